/* tollgate backup / tollgate restore: a consistent copy of a SQLite installation taken while
 * `serve` runs (SQLite's online backup API, store/sqlite_backup.c), and putting one back.
 * PostgreSQL is backed up with its own tools (pg_dump -Fc / pg_restore, docs/operations.md). */
#include "cli/cli.h"

#include "auth/secrets.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PG_HINT "back up PostgreSQL with `pg_dump -Fc` and restore with `pg_restore` (see " \
                "docs/operations.md)"

static void backup_usage(FILE *f)
{
    fputs("Usage: tollgate backup --db sqlite:PATH --to FILE [--force]\n"
          "\n"
          "Copies the database into FILE with SQLite's online backup API, a few pages at a time,\n"
          "safe while `tollgate serve` runs and writes; the copy is one self-contained file,\n"
          "checked with PRAGMA integrity_check before it is given its name.\n"
          "The master key is NOT in the backup: keep a copy of PATH.key (or of the key given\n"
          "with --master-key-file / TOLLGATE_MASTER_KEY) apart from it, or the upstream API keys\n"
          "and webhook secrets in the backup cannot be read. PostgreSQL: pg_dump -Fc\n"
          "(docs/operations.md).\n"
          "\n"
          "  --db URL      sqlite:PATH (default sqlite:./tollgate.db)\n"
          "  --to FILE     the backup file; an existing one only with --force\n"
          "  --force       replace FILE\n",
          f);
}

static void restore_usage(FILE *f)
{
    fputs("Usage: tollgate restore --from FILE --db sqlite:PATH [--force]\n"
          "\n"
          "Puts a backup made by `tollgate backup` in place as the database PATH: the backup is\n"
          "checked (PRAGMA integrity_check, a Tollgate schema), copied beside PATH, checked again\n"
          "and renamed into place. An existing database is replaced only with --force, and never\n"
          "while a `tollgate serve` runs on it. Serve it with the master key that sealed its\n"
          "secrets (the backed-up PATH.key; its id is printed). PostgreSQL: pg_restore\n"
          "(docs/operations.md).\n"
          "\n"
          "  --from FILE   the backup\n"
          "  --db URL      sqlite:PATH (default sqlite:./tollgate.db)\n"
          "  --force       replace an existing database\n",
          f);
}

static int parse(int argc, char **argv, const char *cmd, const char **db, const char **file,
                 int *force, void (*usage)(FILE *))
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"to", required_argument, NULL, 't'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch, backup = !strcmp(cmd, "backup");
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': *db = optarg; break;
        case 't':
            if (!backup)
                return tg_cli_fail("restore: unknown option --to (see --help)") + 1;
            *file = optarg;
            break;
        case 'f':
            if (backup)
                return tg_cli_fail("backup: unknown option --from (see --help)") + 1;
            *file = optarg;
            break;
        case 'F': *force = 1; break;
        case 'h': usage(stdout); return 1;
        default:
            return tg_cli_fail("%s: unknown or incomplete option %s (see --help)", cmd,
                               argv[optind - 1]) + 1;
        }
    }
    if (optind < argc)
        return tg_cli_fail("%s: unexpected argument %s (see --help)", cmd, argv[optind]) + 1;
    if (!*file)
        return tg_cli_fail("%s: %s FILE is required (see --help)", cmd,
                           backup ? "--to" : "--from") + 1;
    return 0;
}

static void key_note(const tg_backup_info_t *info)
{
    if (info->key_id[0])
        printf("Its secrets are sealed with master key %s.\n", info->key_id);
}

int tg_cli_backup(int argc, char **argv)
{
    const char *db = "sqlite:./tollgate.db", *to = NULL;
    char path[4096], err[1024];
    int force = 0;
    tg_backup_info_t info;

    int rc = parse(argc, argv, "backup", &db, &to, &force, backup_usage);
    if (rc)
        return rc == 1 ? 0 : 1;
    if (tg_store_is_pg(db))
        return tg_cli_fail("backup: %s", PG_HINT);
    if (!tg_store_sqlite_path(db, path, sizeof(path)) || !*path)
        return tg_cli_fail("backup: unsupported --db (use sqlite:PATH)");
    if (tg_store_sqlite_backup(path, to, force, &info, err, sizeof(err)) < 0)
        return tg_cli_fail("backup: %s", err);
    printf("Backed up %s to %s (%lld bytes, integrity ok%s).\n", path, to, (long long)info.bytes,
           info.restarts ? ", restarted by writes meanwhile" : "");
    key_note(&info);
    printf("The master key is not in the backup: keep a copy of %s.key (or of the key given with "
           "--master-key-file / %s) apart from it; without it the upstream API keys and webhook "
           "secrets in the backup cannot be read.\n", path, TG_MASTER_KEY_ENV);
    return 0;
}

int tg_cli_restore(int argc, char **argv)
{
    const char *db = "sqlite:./tollgate.db", *from = NULL;
    char path[4096], err[1024], keyfile[4200];
    int force = 0;
    tg_backup_info_t info;

    int rc = parse(argc, argv, "restore", &db, &from, &force, restore_usage);
    if (rc)
        return rc == 1 ? 0 : 1;
    if (tg_store_is_pg(db))
        return tg_cli_fail("restore: %s", PG_HINT);
    if (!tg_store_sqlite_path(db, path, sizeof(path)) || !*path)
        return tg_cli_fail("restore: unsupported --db (use sqlite:PATH)");
    if (tg_store_sqlite_restore(from, path, force, &info, err, sizeof(err)) < 0)
        return tg_cli_fail("restore: %s", err);
    printf("Restored %s into %s (%lld bytes, integrity ok).\n", from, path, (long long)info.bytes);
    key_note(&info);
    /* the key file beside the database, if any, against the one the backup needs */
    snprintf(keyfile, sizeof(keyfile), "%s.key", path);
    tg_master_key_t k;
    if (access(keyfile, F_OK) == 0 && info.key_id[0]) {
        if (tg_master_key_read(keyfile, &k, err, sizeof(err)) == 0 && strcmp(k.id, info.key_id))
            printf("Warning: %s holds master key %s, not %s: put the key file saved with the "
                   "backup there (or give it with --master-key-file) before `tollgate serve`.\n",
                   keyfile, k.id, info.key_id);
        tg_master_key_wipe(&k);
    } else if (info.key_id[0]) {
        printf("Serve it with that master key: copy the key file saved with the backup to %s, "
               "or give it with --master-key-file or %s.\n", keyfile, TG_MASTER_KEY_ENV);
    }
    return 0;
}
