/* Backups of a SQLite database (store.h: tg_store_sqlite_backup, tg_store_sqlite_restore),
 * with SQLite's online backup API: the copy reads the source a few pages per step, so a
 * running serve keeps its writer; a write by another connection between two steps makes the
 * copy start over, and after many such restarts the rest is copied in one step — in WAL mode
 * that is one read snapshot, which never blocks the writer either. */
#include "store/sqlite_int.h"

#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define STEP_PAGES 64    /* 256 KiB at 4 KiB pages */
#define RESTARTS_MAX 100 /* then the rest in one step */

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* One text answer of a one-row query into out ("" when none). */
static int one_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* integrity_check, a Tollgate schema, and the copy's size and master key id. */
static int check(sqlite3 *db, const char *path, tg_backup_info_t *info, char *err, size_t cap)
{
    char res[256], n[32];
    if (one_text(db, "PRAGMA integrity_check", res, sizeof(res)) < 0 || strcmp(res, "ok") != 0) {
        snprintf(err, cap, "%s fails PRAGMA integrity_check: %s", path,
                 res[0] ? res : sqlite3_errmsg(db));
        return -1;
    }
    if (one_text(db, "SELECT MAX(version) FROM schema_migrations", n, sizeof(n)) < 0 || !n[0]) {
        snprintf(err, cap, "%s is not a Tollgate database (no schema_migrations)", path);
        return -1;
    }
    if (one_text(db, "PRAGMA page_count", n, sizeof(n)) == 0)
        info->pages = strtoll(n, NULL, 10);
    if (one_text(db, "PRAGMA page_size", n, sizeof(n)) == 0)
        info->bytes = info->pages * strtoll(n, NULL, 10);
    /* a database from before master key ids has no such table: "" */
    if (one_text(db, "SELECT key_id FROM master_key WHERE id=1", info->key_id,
                 sizeof(info->key_id)) < 0)
        info->key_id[0] = '\0';
    return 0;
}

static int open_db(const char *path, int flags, sqlite3 **db, char *err, size_t cap)
{
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*db, 10000);
    return 0;
}

/* Copies src into the new file tmp and checks it there. journal: the copy's journal mode. */
static int copy(const char *src, const char *tmp, const char *journal, tg_backup_info_t *info,
                char *err, size_t cap)
{
    sqlite3 *s = NULL, *d = NULL;
    sqlite3_backup *b = NULL;
    int rc = -1;

    memset(info, 0, sizeof(*info));
    unlink(tmp);
    if (open_db(src, SQLITE_OPEN_READWRITE, &s, err, cap) < 0 ||
        open_db(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &d, err, cap) < 0)
        goto out;
    if (!(b = sqlite3_backup_init(d, "main", s, "main"))) {
        snprintf(err, cap, "cannot start the copy of %s: %s", src, sqlite3_errmsg(d));
        goto out;
    }
    int step, last = -1;
    for (;;) {
        int pages = info->restarts >= RESTARTS_MAX ? -1 : STEP_PAGES;
        step = sqlite3_backup_step(b, pages);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_OK && step != SQLITE_BUSY && step != SQLITE_LOCKED)
            break;
        int left = sqlite3_backup_remaining(b);
        if (last >= 0 && left > last)
            info->restarts++; /* another connection wrote: the copy started over */
        last = left;
        if (step != SQLITE_OK)
            sqlite3_sleep(10);
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK || step != SQLITE_DONE) {
        b = NULL;
        snprintf(err, cap, "the copy of %s failed: %s", src, sqlite3_errmsg(d));
        goto out;
    }
    b = NULL;
    char mode[32];
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", journal);
    if (one_text(d, sql, mode, sizeof(mode)) < 0 || strcasecmp(mode, journal) != 0) {
        snprintf(err, cap, "cannot set the journal mode of %s: %s", tmp, sqlite3_errmsg(d));
        goto out;
    }
    if (check(d, tmp, info, err, cap) < 0)
        goto out;
    rc = 0;
out:
    if (b)
        sqlite3_backup_finish(b);
    sqlite3_close(d);
    sqlite3_close(s);
    if (rc < 0) {
        char side[4200];
        unlink(tmp);
        snprintf(side, sizeof(side), "%s-journal", tmp);
        unlink(side);
    }
    return rc;
}

int tg_store_sqlite_backup(const char *src, const char *dst, int overwrite,
                           tg_backup_info_t *info, char *err, size_t cap)
{
    char tmp[4200];
    if (!exists(src)) {
        snprintf(err, cap, "%s does not exist", src);
        return -1;
    }
    if (exists(dst) && !overwrite) {
        snprintf(err, cap, "%s exists; give another file, or --force to replace it", dst);
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dst, (int)getpid());
    /* DELETE: the backup is one self-contained file, whatever the source's mode */
    if (copy(src, tmp, "delete", info, err, cap) < 0)
        return -1;
    if (rename(tmp, dst) < 0) {
        snprintf(err, cap, "cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        unlink(tmp);
        return -1;
    }
    tg_fsync_dir(dst);
    return 0;
}

int tg_store_sqlite_restore(const char *from, const char *dst, int force, tg_backup_info_t *info,
                            char *err, size_t cap)
{
    char tmp[4200], side[4300], lock[4300];
    sqlite3 *f = NULL;
    int fd = -1, rc = -1;

    if (!exists(from)) {
        snprintf(err, cap, "%s does not exist", from);
        return -1;
    }
    /* the backup itself first: nothing is touched for a damaged one */
    if (open_db(from, SQLITE_OPEN_READONLY, &f, err, cap) < 0)
        return -1;
    int ok = check(f, from, info, err, cap);
    sqlite3_close(f);
    if (ok < 0)
        return -1;
    snprintf(side, sizeof(side), "%s-wal", dst);
    if ((exists(dst) || exists(side)) && !force) {
        snprintf(err, cap, "%s exists; restore replaces a database only with --force (with no "
                 "serve running on it)", dst);
        return -1;
    }
    /* a running serve holds PATH.lock (store_sqlite.c: claim): never pull its database away */
    snprintf(lock, sizeof(lock), "%s.lock", dst);
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, cap, "a `tollgate serve` is running on %s; stop it first", dst);
        goto out;
    }
    snprintf(tmp, sizeof(tmp), "%s.restore-%d", dst, (int)getpid());
    if (copy(from, tmp, "wal", info, err, cap) < 0)
        goto out;
    /* the copy in WAL mode leaves its log and index beside it: fold them in */
    snprintf(side, sizeof(side), "%s-wal", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", tmp);
    unlink(side);
    snprintf(side, sizeof(side), "%s-wal", dst);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", dst);
    unlink(side);
    if (rename(tmp, dst) < 0) {
        snprintf(err, cap, "cannot rename %s to %s: %s", tmp, dst, strerror(errno));
        unlink(tmp);
        goto out;
    }
    tg_fsync_dir(dst);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
