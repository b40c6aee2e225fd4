/* tollgate rotate-master-key: every stored secret re-sealed under a new master key, in one
 * transaction (auth/secrets.h). */
#include "cli/cli.h"

#include "auth/secrets.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("Usage: tollgate rotate-master-key [--db URL] [--master-key-file OLD]\n"
          "                                  --new-master-key-file NEW\n"
          "\n"
          "Re-seals every stored secret (the providers' upstream API keys, the spend alerts'\n"
          "webhook signing secrets) under a new master key, in one transaction: afterwards only\n"
          "the new key opens them, and `serve` refuses to start with the old one. Stop every\n"
          "`tollgate serve` on the database first; start them again with the new key.\n"
          "\n"
          "  --db URL                    sqlite:PATH (default sqlite:./tollgate.db), or\n"
          "                              postgres://…\n"
          "  --master-key-file OLD       the current key (or env TOLLGATE_MASTER_KEY; for SQLite\n"
          "                              the default is PATH.key)\n"
          "  --new-master-key-file NEW   the new key, created (mode 0600) when the file does not\n"
          "                              exist (or env TOLLGATE_NEW_MASTER_KEY, base64)\n",
          f);
}

int tg_cli_rotate_master_key(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"master-key-file", required_argument, NULL, 'o'},
                                         {"new-master-key-file", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = "sqlite:./tollgate.db", *old_file = NULL, *new_file = NULL;
    char path[4096], shown[4096], err[1024], beside[4200];
    tg_master_key_t old, nk;
    tg_store_t *st = NULL, *claim = NULL;
    int ch, rc = 1, created = 0;
    size_t count = 0;

    memset(&old, 0, sizeof(old));
    memset(&nk, 0, sizeof(nk));
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'o': old_file = optarg; break;
        case 'n': new_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            return tg_cli_fail("rotate-master-key: unknown or incomplete option %s (see --help)",
                               argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tg_cli_fail("rotate-master-key: unexpected argument %s (see --help)", argv[optind]);
    int pg = tg_store_is_pg(db);
    tg_store_redact_url(db, shown, sizeof(shown));
    if (!pg && (!tg_store_sqlite_path(db, path, sizeof(path)) || !*path))
        return tg_cli_fail("rotate-master-key: unsupported --db %s (use sqlite:PATH or "
                           "postgres://…)", shown);
    if (!pg && access(path, F_OK) != 0)
        return tg_cli_fail("rotate-master-key: %s does not exist", path);

    /* the old key: as serve finds it, but never created */
    int g = tg_master_key_given(old_file, TG_MASTER_KEY_ENV, &old, err, sizeof(err));
    if (g < 0)
        return tg_cli_fail("rotate-master-key: %s", err);
    beside[0] = '\0';
    if (g == 1) {
        if (pg)
            return tg_cli_fail("rotate-master-key: give the current master key with "
                               "--master-key-file OLD or %s", TG_MASTER_KEY_ENV);
        snprintf(beside, sizeof(beside), "%s.key", path);
        if (access(beside, F_OK) != 0)
            snprintf(beside, sizeof(beside), "%s.secret", path); /* an older release's */
        if (tg_master_key_read(beside, &old, err, sizeof(err)) < 0)
            return tg_cli_fail("rotate-master-key: %s", err);
    }
    /* the new key: a file (created when missing) or TOLLGATE_NEW_MASTER_KEY */
    if (new_file && access(new_file, F_OK) != 0) {
        if (tg_master_key_create(new_file, &nk, err, sizeof(err)) < 0) {
            tg_cli_fail("rotate-master-key: %s", err);
            goto out;
        }
        created = 1;
    } else {
        g = tg_master_key_given(new_file, TG_NEW_MASTER_KEY_ENV, &nk, err, sizeof(err));
        if (g != 0) {
            tg_cli_fail("rotate-master-key: %s", g < 0 ? err
                        : "give the new key with --new-master-key-file NEW (created when "
                          "missing) or " TG_NEW_MASTER_KEY_ENV);
            goto out;
        }
    }

    if (tg_store_open(db, &st) < 0 || st->ops->migrate(st) < 0) {
        tg_cli_fail("rotate-master-key: cannot open the database %s", shown);
        goto out;
    }
    /* a running serve holds the claim, and its secrets in memory under the old key */
    int c = tg_store_open(db, &claim) < 0 ? -1 : claim->ops->claim(claim);
    if (c != 0) {
        tg_cli_fail(c == TG_STORE_CONFLICT ? "rotate-master-key: a `tollgate serve` is running "
                                             "on %s; stop every instance first"
                                           : "rotate-master-key: cannot claim the database %s",
                    shown);
        goto out;
    }
    if (tg_secrets_rotate(st, db, &old, &nk, &count, err, sizeof(err)) < 0) {
        tg_cli_fail("rotate-master-key: %s", err);
        goto out;
    }
    printf("Re-sealed %zu secrets in %s under master key %s (from %s); master key %s opens "
           "nothing there any more.\n", count, shown, nk.id, nk.source, old.id);
    if (beside[0])
        printf("`tollgate serve` reads %s by default: move the new key there (mv %s %s), or give "
               "--master-key-file %s. Back up the new key.\n", beside, nk.source, beside,
               nk.source);
    else
        printf("Start every `tollgate serve` with the new key (--master-key-file or %s), and "
               "back it up.\n", TG_MASTER_KEY_ENV);
    rc = 0;
out:
    if (rc && created)
        unlink(new_file);
    tg_store_close(claim);
    tg_store_close(st);
    tg_master_key_wipe(&old);
    tg_master_key_wipe(&nk);
    return rc;
}
