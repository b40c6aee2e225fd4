/* tollgate migrate: copies a single-node (SQLite) installation into PostgreSQL. */
#include "cli/cli.h"

#include "auth/secrets.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs("Usage: tollgate migrate --from sqlite:PATH --to postgres://USER[:PASS]@HOST[:PORT]/DB\n"
          "\n"
          "Copies every row of a SQLite installation into PostgreSQL: organisations, keys (they\n"
          "stay valid), providers, models, console logins, credit, limits, payments, usage. The\n"
          "target is migrated first; rows already there are kept, so an interrupted copy can be\n"
          "run again. Stop `tollgate serve` on the source first. Then serve the target with\n"
          "TOLLGATE_MASTER_KEY set to the key in PATH.key (printed how at the end): the sealed\n"
          "upstream API keys and webhook secrets are copied as they are.\n",
          f);
}

static void progress(const char *table, int64_t done, int64_t total, void *arg)
{
    (void)arg;
    fprintf(stderr, "migrate: %s %lld/%lld\n", table, (long long)done, (long long)total);
}

int tg_cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *from = NULL, *to = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char path[4096], shown[4096];
    if (!from || !to || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (tg_store_is_pg(from) || !tg_store_sqlite_path(from, path, sizeof(path)) || !*path)
        return tg_cli_fail("migrate: --from must be sqlite:PATH");
    if (!tg_store_is_pg(to))
        return tg_cli_fail("migrate: --to must be postgres://…");
    if (access(path, R_OK) != 0)
        return tg_cli_fail("migrate: %s does not exist", path);
    /* the key that sealed the source's secrets: the target is served with the same one */
    char keyfile[4200], kerr[1024];
    tg_master_key_t fkey, ekey;
    int have_file = 0, legacy = 0;
    snprintf(keyfile, sizeof(keyfile), "%s.key", path);
    if (access(keyfile, F_OK) != 0) {
        snprintf(keyfile, sizeof(keyfile), "%s.secret", path); /* an older release's */
        legacy = 1;
    }
    if (access(keyfile, F_OK) == 0) {
        if (tg_master_key_read(keyfile, &fkey, kerr, sizeof(kerr)) < 0)
            return tg_cli_fail("migrate: %s", kerr);
        have_file = 1;
    }
    int given = tg_master_key_given(NULL, TG_MASTER_KEY_ENV, &ekey, kerr, sizeof(kerr));
    if (given < 0)
        return tg_cli_fail("migrate: %s", kerr);
    int differ = have_file && given == 0 && strcmp(fkey.id, ekey.id) != 0;
    tg_master_key_wipe(&fkey);
    tg_master_key_wipe(&ekey);
    if (differ)
        return tg_cli_fail("migrate: %s is not the key in %s; the copied upstream keys could not "
                           "be opened with it", ekey.source, keyfile);
    tg_store_redact_url(to, shown, sizeof(shown));
    if (tg_store_copy_sqlite_to_pg(path, to, progress, NULL) < 0)
        return tg_cli_fail("migrate: the copy to %s failed (see above); run it again once "
                           "the cause is fixed", shown);
    fprintf(stderr, "migrate: %s copied to %s\n", path, shown);
    if (have_file && given == 1)
        fprintf(stderr, "migrate: serve it with the same master key:\n"
                        "  export TOLLGATE_MASTER_KEY=$(%s %s)\n",
                legacy ? "base64 -w0" : "cat", keyfile);
    return 0;
}
