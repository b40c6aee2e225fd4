/* tollgate org: the operator's platform calls on the host, without a key: customer
 * organisations listed, shown, created, renamed, given a tier by hand, suspended and
 * reactivated. Writes go to the database and raise its catalog counter, which a running
 * `tollgate serve` (every instance, with several) polls once a second: in force within ~1 s.
 * Credit is granted through the Admin API only (the running ledger holds the balances). */
#include "cli/cli.h"

#include "auth/tenancy.h"
#include "core/util.h"
#include "limits/tiers.h"
#include "pricing/pricing.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("Usage: tollgate org list             [--db URL] [--json]\n"
          "       tollgate org show ORG_ID      [--db URL] [--json]\n"
          "       tollgate org create NAME      [--db URL] [--json]\n"
          "       tollgate org set ORG_ID [--name NAME] [--tier TIER] [--status active|suspended]\n"
          "                                     [--db URL] [--json]\n"
          "\n"
          "Customer organisations, as the operator's /v1/platform/organizations calls see them\n"
          "(docs/api.md). `create` prints the new organisation's first admin key once. `set`:\n"
          "a tier set by hand stays until set again (payments no longer move it); a suspended\n"
          "organisation's keys and sessions answer 401 account_deactivated, requests already\n"
          "running finish, nothing is deleted. A running `tollgate serve` applies a change\n"
          "within about a second.\n"
          "\n"
          "  --db URL      sqlite:PATH (default sqlite:./tollgate.db), or postgres://…\n"
          "  --json        one JSON object per organisation (the Admin API's shape)\n",
          f);
}

static void print_org(const tg_org_row_t *o, int json)
{
    if (json) {
        cJSON *j = tg_org_json(o);
        char *t = cJSON_PrintUnformatted(j);
        if (t)
            puts(t);
        free(t);
        cJSON_Delete(j);
        return;
    }
    printf("%-32s %-9s %-7s%s %-10s %s\n", o->id, o->suspended ? "suspended" : "active",
           o->tier, o->tier_locked ? "*" : " ", o->is_operator ? "operator" : "customer",
           o->name);
}

/* The organisation with that id (copied into *out): 0, or 1 after an error message. */
static int find(tg_store_t *st, const char *id, tg_org_row_t *out)
{
    tg_org_row_t *rows;
    size_t n;
    if (st->tenancy->org_list(st, &rows, &n) < 0)
        return tg_cli_fail("org: cannot read the organisations");
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        if (!strcmp(rows[i].id, id)) {
            *out = rows[i];
            found = 1;
        }
    free(rows);
    return found ? 0 : tg_cli_fail("org: no organization with id %s", id);
}

int tg_cli_org(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},     {"json", no_argument, NULL, 'j'},
        {"name", required_argument, NULL, 'n'},   {"tier", required_argument, NULL, 't'},
        {"status", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *db = "sqlite:./tollgate.db", *name = NULL, *tier = NULL, *status = NULL;
    int json = 0, ch, rc = 1;
    tg_store_t *st = NULL;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    optind = 2;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 'j': json = 1; break;
        case 'n': name = optarg; break;
        case 't': tier = optarg; break;
        case 's': status = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return tg_cli_fail("org: unknown or incomplete option %s (see --help)", argv[optind - 1]);
        }
    }
    const char *arg = optind < argc ? argv[optind] : NULL;
    if (optind + (arg ? 1 : 0) < argc)
        return tg_cli_fail("org: unexpected argument %s (see --help)", argv[optind + 1]);
    int list = !strcmp(cmd, "list"), show = !strcmp(cmd, "show"), create = !strcmp(cmd, "create"),
        set = !strcmp(cmd, "set");
    if (!list && !show && !create && !set)
        return tg_cli_fail("org: unknown command %s (list, show, create, set)", cmd);
    if (list != !arg)
        return tg_cli_fail(list ? "org list takes no argument" : "org %s needs %s", cmd,
                           create ? "a NAME" : "an ORG_ID");
    if (!set && (name || tier || status))
        return tg_cli_fail("org: --name, --tier and --status go with `org set`");
    if (set && !name && !tier && !status)
        return tg_cli_fail("org set: nothing to change (--name, --tier, --status)");
    const char *what = name ? name : create ? arg : NULL;
    if (what && (!*what || strlen(what) >= TG_NAME_MAX))
        return tg_cli_fail("org: the name must be 1 to %d bytes", TG_NAME_MAX - 1);
    if (status && strcmp(status, "active") && strcmp(status, "suspended"))
        return tg_cli_fail("org set: --status must be active or suspended");
    char tiers[4096];
    if (tier && (tg_data_path("tiers.json", tiers, sizeof(tiers)) < 0 || tg_tiers_load(tiers) < 0))
        return tg_cli_fail("org set: cannot load the tier table data/tiers.json");
    if (tier && tg_tiers_rank(tier) < 0) {
        tg_tiers_free();
        return tg_cli_fail("org set: %s is not a tier of data/tiers.json", tier);
    }
    char shown[4096];
    tg_store_redact_url(db, shown, sizeof(shown));
    if (tg_store_open(db, &st) < 0 || st->ops->migrate(st) < 0) {
        tg_cli_fail("org: cannot open the database %s", shown);
        goto out;
    }
    tg_org_row_t o;
    if (list) {
        tg_org_row_t *rows;
        size_t n;
        if (st->tenancy->org_list(st, &rows, &n) < 0) {
            tg_cli_fail("org: cannot read the organisations");
            goto out;
        }
        if (!json && n)
            printf("%-32s %-9s %-8s %-10s %s\n", "ID", "STATUS", "TIER", "KIND", "NAME");
        for (size_t i = 0; i < n; i++)
            print_org(&rows[i], json);
        if (!json && n)
            printf("(* a tier set by hand)\n");
        free(rows);
        rc = 0;
    } else if (show) {
        if ((rc = find(st, arg, &o)) == 0)
            print_org(&o, json);
    } else if (create) {
        tg_project_row_t p;
        tg_key_row_t k;
        char secret[TG_KEY_SECRET_MAX];
        if (tg_org_create(st, arg, "free", 0, "first admin key", NULL, &o, &p, &k, secret) != 0 ||
            st->tenancy->catalog_bump(st) < 0) {
            tg_cli_fail("org create: cannot write the organisation");
            goto out;
        }
        if (json) {
            cJSON *j = tg_org_json(&o);
            cJSON_AddStringToObject(j, "default_project_id", p.id);
            cJSON_AddStringToObject(j, "admin_key", secret);
            char *t = cJSON_PrintUnformatted(j);
            if (t)
                puts(t);
            free(t);
            cJSON_Delete(j);
        } else {
            printf("Organization: %s (%s)\nAdmin key (shown once):\n%s\n", o.name, o.id, secret);
        }
        sodium_memzero(secret, sizeof(secret));
        rc = 0;
    } else { /* set */
        if ((rc = find(st, arg, &o)) != 0)
            goto out;
        rc = 1;
        int suspend = status ? !strcmp(status, "suspended") : -1;
        if (suspend == 1 && o.is_operator) {
            tg_cli_fail("org set: the operator's own organization cannot be suspended");
            goto out;
        }
        if (st->tenancy->org_update(st, o.id, name, tier, suspend) != 0 ||
            st->tenancy->catalog_bump(st) < 0 || find(st, arg, &o) != 0) {
            tg_cli_fail("org set: cannot write the change");
            goto out;
        }
        print_org(&o, json);
        rc = 0;
    }
out:
    tg_store_close(st);
    if (tier)
        tg_tiers_free();
    return rc;
}
