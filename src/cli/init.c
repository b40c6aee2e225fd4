/* tollgate init: schema, the operator's organisation, its owner and one admin key. */
#include "cli/cli.h"

#include "auth/keys.h"
#include "auth/accounts.h"
#include "auth/secrets.h"
#include "auth/tenancy.h"
#include "core/log.h"
#include "core/util.h"
#include "pricing/pricing.h"
#include "store/store.h"

#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tg_cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("tollgate: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void usage(FILE *f)
{
    fputs("Usage: tollgate init [--db URL] [--org NAME] [--email E --password P] [--json]\n"
          "                     [--master-key-file FILE]\n"
          "\n"
          "Creates the database schema (idempotent), the operator's organisation (Tier 5), its\n"
          "default project, an owner (with --email/--password) and one admin key, printed once.\n"
          "Running it again on an initialised database only applies new migrations and new\n"
          "models from the shipped table.\n"
          "\n"
          "  --db URL          sqlite:PATH (default sqlite:./tollgate.db), or postgres://… (then\n"
          "                    the master key must be given: --master-key-file or\n"
          "                    TOLLGATE_MASTER_KEY)\n"
          "  --master-key-file FILE  the key that seals stored secrets (default for SQLite:\n"
          "                    PATH.key, created when missing; docs/operations.md)\n"
          "  --org NAME        organisation name (default \"Personal\")\n"
          "  --email E         the owner's console login\n"
          "  --password P      the owner's password (at least 8 characters)\n"
          "  --json            print {\"organization_id\", \"admin_key\"} and nothing else\n",
          f);
}

static int seed_models(tg_store_t *st)
{
    char path[4096];
    tg_model_row_t *rows;
    size_t n;
    if (tg_data_path("models.json", path, sizeof(path)) < 0) {
        tg_error("the shipped model table data/models.json was not found beside the binary");
        return -1;
    }
    if (tg_pricing_load_file(path, &rows, &n) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = st->tenancy->model_upsert(st, &rows[i], 1);
    free(rows);
    return rc;
}

int tg_cli_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},     {"org", required_argument, NULL, 'o'},
        {"email", required_argument, NULL, 'e'},  {"password", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
        {"master-key-file", required_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    const char *db = "sqlite:./tollgate.db", *org = "Personal", *email = NULL, *password = NULL;
    const char *key_file = NULL;
    char kerr[1024];
    int json = 0, ch;
    char path[4096];
    tg_store_t *st = NULL;
    int rc = 1;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'o': org = optarg; break;
        case 'e': email = optarg; break;
        case 'p': password = optarg; break;
        case 'j': json = 1; break;
        case 'M': key_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return tg_cli_fail("init: unknown or incomplete option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tg_cli_fail("init: unexpected argument %s (see --help)", argv[optind]);
    if (!email != !password)
        return tg_cli_fail("init: --email and --password go together");
    if (password && tg_password_ok(password, strlen(password)) < 0)
        return tg_cli_fail("init: the password needs 8 to 128 characters");
    char email_norm[TG_NAME_MAX];
    if (email && tg_email_normalize(email, email_norm, sizeof(email_norm)) < 0)
        return tg_cli_fail("init: --email is not an email address");
    if (strlen(org) == 0 || strlen(org) >= TG_NAME_MAX)
        return tg_cli_fail("init: --org must be 1 to %d bytes", TG_NAME_MAX - 1);
    int pg = tg_store_is_pg(db);
    char shown[4096]; /* db without its password, for messages */
    tg_store_redact_url(db, shown, sizeof(shown));
    if (!pg && !tg_store_sqlite_path(db, path, sizeof(path)))
        return tg_cli_fail("init: unsupported --db %s (use sqlite:PATH or postgres://…)", shown);
    /* with PostgreSQL there is no file beside the database: every instance is given the key */
    tg_master_key_t given;
    int g = tg_master_key_given(key_file, TG_MASTER_KEY_ENV, &given, kerr, sizeof(kerr));
    tg_master_key_wipe(&given);
    if (g < 0)
        return tg_cli_fail("init: %s", kerr);
    if (pg && g == 1)
        return tg_cli_fail("init: with PostgreSQL, give the master key with --master-key-file "
                           "FILE or TOLLGATE_MASTER_KEY (base64 of 32 bytes), the same on every "
                           "instance: it seals the upstream API keys");
    char data[4096];
    if (tg_data_path("models.json", data, sizeof(data)) < 0)
        return tg_cli_fail("init: the shipped model table data/models.json was not found beside "
                           "the binary (or in $TOLLGATE_DATA_DIR)");
    if (tg_store_open(db, &st) < 0)
        return tg_cli_fail("init: cannot open the database %s", shown);
    if (st->ops->migrate(st) < 0 || seed_models(st) < 0) {
        tg_cli_fail("init: cannot prepare the database %s", shown);
        goto out;
    }

    tg_org_row_t *orgs;
    size_t norgs;
    if (st->tenancy->org_list(st, &orgs, &norgs) < 0)
        goto out;
    for (size_t i = 0; i < norgs; i++) {
        if (orgs[i].is_operator) {
            fprintf(stderr, "tollgate: %s is already initialised (organization %s); applied "
                            "migrations, created no new admin key\n", shown, orgs[i].id);
            /* never replace a lost master key here (tg_secrets_start creates none for a
             * database that holds secrets): it would orphan the sealed upstream keys */
            if (tg_secrets_start(st, db, key_file, kerr, sizeof(kerr)) < 0)
                fprintf(stderr, "tollgate: warning: %s\n", kerr);
            if (json)
                printf("{\"organization_id\":\"%s\",\"admin_key\":null}\n", orgs[i].id);
            free(orgs);
            rc = 0;
            goto out;
        }
    }
    free(orgs);

    if (tg_secrets_start(st, db, key_file, kerr, sizeof(kerr)) < 0) {
        tg_cli_fail("init: %s", kerr);
        goto out;
    }
    tg_org_row_t o;
    tg_project_row_t p;
    tg_key_row_t k;
    tg_user_row_t u = {0};
    char secret[TG_KEY_SECRET_MAX];
    if (email) {
        snprintf(u.email, sizeof(u.email), "%s", email_norm);
        snprintf(u.role, sizeof(u.role), "owner");
        if (tg_password_hash(password, strlen(password), u.password_hash) < 0) {
            tg_cli_fail("init: cannot hash the password (out of memory)");
            goto out;
        }
    }
    int w = tg_org_create(st, org, "tier_5", 1, "init", email ? &u : NULL, &o, &p, &k, secret);
    if (w != 0) {
        tg_cli_fail("init: cannot write the organisation%s",
                    w == TG_STORE_CONFLICT ? " (that email is already taken)" : "");
        goto out;
    }
    if (json) {
        printf("{\"organization_id\":\"%s\",\"admin_key\":\"%s\"}\n", o.id, secret);
    } else {
        printf("Initialised %s\n"
               "Organization: %s (%s)\n"
               "Admin key (shown once; keep it somewhere safe):\n%s\n",
               db, o.name, o.id, secret);
    }
    sodium_memzero(secret, sizeof(secret));
    rc = 0;
out:
    tg_store_close(st);
    return rc;
}
