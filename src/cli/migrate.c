/* tollgate migrate: copies a single-node (SQLite) installation into PostgreSQL. */
#include "cli/cli.h"

#include "store/store.h"

#include <fcntl.h>
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
          "TOLLGATE_SECRET_KEY set to the key in PATH.secret (printed how at the end).\n",
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
    char keyfile[4200];
    unsigned char key[32];
    snprintf(keyfile, sizeof(keyfile), "%s.secret", path);
    int fd = open(keyfile, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, key, sizeof(key)) : -1;
    if (fd >= 0)
        close(fd);
    const char *env = getenv("TOLLGATE_SECRET_KEY");
    if (env && !*env)
        env = NULL;
    if (n == (ssize_t)sizeof(key) && env) {
        char hex[65];
        for (size_t i = 0; i < sizeof(key); i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
        if (strcasecmp(hex, env) != 0)
            return tg_cli_fail("migrate: TOLLGATE_SECRET_KEY is not the key in %s; the copied "
                               "upstream keys could not be opened with it", keyfile);
    }
    tg_store_redact_url(to, shown, sizeof(shown));
    if (tg_store_copy_sqlite_to_pg(path, to, progress, NULL) < 0)
        return tg_cli_fail("migrate: the copy to %s failed (see above); run it again once "
                           "the cause is fixed", shown);
    fprintf(stderr, "migrate: %s copied to %s\n", path, shown);
    if (n == (ssize_t)sizeof(key) && !env)
        fprintf(stderr, "migrate: serve it with the same secret key:\n"
                        "  export TOLLGATE_SECRET_KEY=$(od -An -tx1 -v %s | tr -d ' \\n')\n",
                keyfile);
    return 0;
}
