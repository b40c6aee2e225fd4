/* auth/perms: key permission values → scopes. */
#include "auth/perms.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define READ TG_SCOPE_MODELS_READ
#define REQ TG_SCOPE_MODEL_REQUEST
#define MR TG_SCOPE_MGMT_READ
#define MW TG_SCOPE_MGMT_WRITE

static void text_ok(const char *json, int kind, unsigned want)
{
    unsigned scopes = 0xdeadu;
    if (tg_perms_from_text(json, kind, &scopes) != 0)
        fail_msg("%s (kind %d) rejected, want scopes 0x%x", json, kind, want);
    if (scopes != want)
        fail_msg("%s (kind %d) = scopes 0x%x, want 0x%x", json, kind, scopes, want);

    /* from_json agrees with from_text */
    cJSON *v = cJSON_Parse(json);
    assert_non_null(v);
    const char *msg = NULL;
    unsigned s2 = 0xdeadu;
    assert_int_equal(tg_perms_from_json(v, kind, &s2, &msg), 0);
    assert_int_equal(s2, want);
    cJSON_Delete(v);
}

static void text_bad(const char *json, int kind)
{
    unsigned scopes = 0;
    if (tg_perms_from_text(json, kind, &scopes) != -1)
        fail_msg("%s (kind %d) accepted with scopes 0x%x, want -1", json, kind, scopes);
    cJSON *v = cJSON_Parse(json);
    if (v) {
        const char *msg = NULL;
        assert_int_equal(tg_perms_from_json(v, kind, &scopes, &msg), -1);
        /* the caller puts msg in a 400 answer */
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        cJSON_Delete(v);
    }
}

static void test_project_all_and_read_only(void **state)
{
    text_ok("\"all\"", TG_KEY_PROJECT, READ | REQ);
    text_ok("\"read_only\"", TG_KEY_PROJECT, READ);
}

static void test_project_restricted(void **state)
{
    text_ok("{\"restricted\":{\"models\":\"read\",\"model_capabilities\":\"write\"}}",
            TG_KEY_PROJECT, READ | REQ);
    text_ok("{\"restricted\":{\"models\":\"none\",\"model_capabilities\":\"write\"}}",
            TG_KEY_PROJECT, REQ);
    text_ok("{\"restricted\":{\"model_capabilities\":\"write\"}}", TG_KEY_PROJECT, REQ);
    text_ok("{\"restricted\":{\"models\":\"read\",\"model_capabilities\":\"none\"}}",
            TG_KEY_PROJECT, READ);
    text_ok("{\"restricted\":{\"models\":\"read\"}}", TG_KEY_PROJECT, READ);
    /* reading model capabilities does not allow requests */
    text_ok("{\"restricted\":{\"models\":\"read\",\"model_capabilities\":\"read\"}}",
            TG_KEY_PROJECT, READ);
    text_ok("{\"restricted\":{\"models\":\"none\",\"model_capabilities\":\"none\"}}",
            TG_KEY_PROJECT, 0);
    text_ok("{\"restricted\":{}}", TG_KEY_PROJECT, 0);
}

static void test_project_invalid(void **state)
{
    text_bad("{\"restricted\":{\"models\":\"sometimes\"}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":{\"model_capabilities\":\"always\"}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":{\"models\":1}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":{\"models\":null}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":{\"models\":\"read\",\"files\":\"read\"}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":{\"threads\":\"write\"}}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":\"all\"}", TG_KEY_PROJECT);
    text_bad("{\"restricted\":[]}", TG_KEY_PROJECT);
    text_bad("{\"unrestricted\":{}}", TG_KEY_PROJECT);
    text_bad("{}", TG_KEY_PROJECT);
    text_bad("\"everything\"", TG_KEY_PROJECT);
    text_bad("\"ALL\"", TG_KEY_PROJECT);
    text_bad("\"\"", TG_KEY_PROJECT);
    text_bad("[\"all\"]", TG_KEY_PROJECT);
    text_bad("1", TG_KEY_PROJECT);
    text_bad("true", TG_KEY_PROJECT);
    text_bad("{", TG_KEY_PROJECT); /* not JSON */
    text_bad("", TG_KEY_PROJECT);
}

static void test_admin(void **state)
{
    text_ok("\"all\"", TG_KEY_ADMIN, MR | MW);
    text_ok("\"read_only\"", TG_KEY_ADMIN, MR);
    text_bad("{\"restricted\":{\"models\":\"read\",\"model_capabilities\":\"write\"}}",
             TG_KEY_ADMIN);
    text_bad("{\"restricted\":{}}", TG_KEY_ADMIN);
    text_bad("\"write_only\"", TG_KEY_ADMIN);
    text_bad("{", TG_KEY_ADMIN);
}

static void test_kinds_never_mix(void **state)
{
    /* an admin key never gets inference scopes, a project key never management scopes */
    static const char *vals[] = {"\"all\"", "\"read_only\""};
    for (size_t i = 0; i < 2; i++) {
        unsigned s = 0;
        assert_int_equal(tg_perms_from_text(vals[i], TG_KEY_ADMIN, &s), 0);
        assert_int_equal(s & (READ | REQ), 0);
        assert_int_equal(tg_perms_from_text(vals[i], TG_KEY_PROJECT, &s), 0);
        assert_int_equal(s & (MR | MW), 0);
    }
}

static void test_scope_names(void **state)
{
    assert_string_equal(tg_scope_name(TG_SCOPE_MODEL_REQUEST), "model.request");
    assert_string_equal(tg_scope_name(TG_SCOPE_MODELS_READ), "api.model.read");
    assert_string_equal(tg_scope_name(TG_SCOPE_MGMT_READ), "api.management.read");
    assert_string_equal(tg_scope_name(TG_SCOPE_MGMT_WRITE), "api.management.write");
    /* never NULL, even for a value that is not one scope (it goes into a message) */
    assert_non_null(tg_scope_name(0));
    assert_non_null(tg_scope_name(TG_SCOPE_MGMT_READ | TG_SCOPE_MGMT_WRITE));
    assert_non_null(tg_scope_name(1u << 20));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_project_all_and_read_only),
        cmocka_unit_test(test_project_restricted),
        cmocka_unit_test(test_project_invalid),
        cmocka_unit_test(test_admin),
        cmocka_unit_test(test_kinds_never_mix),
        cmocka_unit_test(test_scope_names),
    };
    return cmocka_run_group_tests_name("perms", tests, NULL, NULL);
}
