/* tollgate: argv → subcommand. */
#include "cli/cli.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fputs("Usage: tollgate <command> [options]\n"
          "\n"
          "Commands:\n"
          "  serve    run the OpenAI-compatible API and the Admin API\n"
          "  init     create the database, the operator's organisation and an admin key\n"
          "  migrate  copy a SQLite installation into PostgreSQL\n"
          "  org      list, show, create, rename, set the tier of, suspend customer organisations\n"
          "  backup   copy a SQLite database while it is served (PostgreSQL: pg_dump)\n"
          "  restore  put a backup in place as the database\n"
          "  rotate-master-key  re-seal the stored secrets under a new master key\n"
          "\n"
          "`tollgate <command> --help` describes each command.\n",
          f);
}

int main(int argc, char **argv)
{
    umask(077); /* the database holds key hashes and sealed secrets: owner only */
    if (sodium_init() < 0)
        return tg_cli_fail("cannot initialise libsodium");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return tg_cli_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "init"))
        return tg_cli_init(argc - 1, argv + 1);
    if (!strcmp(argv[1], "migrate"))
        return tg_cli_migrate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "org"))
        return tg_cli_org(argc - 1, argv + 1);
    if (!strcmp(argv[1], "backup"))
        return tg_cli_backup(argc - 1, argv + 1);
    if (!strcmp(argv[1], "restore"))
        return tg_cli_restore(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rotate-master-key"))
        return tg_cli_rotate_master_key(argc - 1, argv + 1);
    return tg_cli_fail("unknown command '%s' (see tollgate --help)", argv[1]);
}
