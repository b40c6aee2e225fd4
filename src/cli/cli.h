/* Subcommands: each parses its own options and returns the process exit code. */
#ifndef TG_CLI_H
#define TG_CLI_H

int tg_cli_serve(int argc, char **argv);
int tg_cli_init(int argc, char **argv);
int tg_cli_migrate(int argc, char **argv);
int tg_cli_org(int argc, char **argv);
int tg_cli_backup(int argc, char **argv);
int tg_cli_restore(int argc, char **argv);
int tg_cli_rotate_master_key(int argc, char **argv);
/* Prints "tollgate: <message>" to standard error and returns 1. */
int tg_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
