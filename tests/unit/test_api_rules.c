/*
 * test_api_rules.c — the API's pure parts: who may give which command on which
 * incident (api_may_command), a request body into a Command
 * (api_command_parse: the actor and incident imposed, 400s naming the
 * field), and the OpenAPI document built from the route table (every route
 * documented once, with its auth).
 */
#include <criterion/criterion.h>

#include <string.h>

#include "api_internal.h"

#define KIND(k) INCIDENT__V1__COMMAND_KIND__COMMAND_##k

static Incident__V1__Incident incident(Incident__V1__Scope scope, Incident__V1__Role role,
                                       const char *owner)
{
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = "INC-1";
    inc.scope = scope;
    inc.owner_role = role;
    inc.owner = (char *)owner;
    return inc;
}

Test(api_roles, technical_manager_on_global_owner_on_its_own_stakeholders_note_and_sign_off)
{
    api_person_t tm = {.name = "tina", .role = DIRECTORY_ROLE_TECHNICAL_MANAGER};
    api_person_t csm = {.name = "carl", .role = DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER};
    api_person_t sam = {.name = "sam", .role = DIRECTORY_ROLE_STAKEHOLDER};
    api_person_t vic = {.name = "vic", .role = DIRECTORY_ROLE_VIEWER};
    Incident__V1__Incident global =
        incident(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "");
    Incident__V1__Incident local = incident(INCIDENT__V1__SCOPE__SCOPE_LOCAL,
                                            INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "");
    Incident__V1__Incident carls =
        incident(INCIDENT__V1__SCOPE__SCOPE_LOCAL,
                 INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "carl");
    Incident__V1__Incident others =
        incident(INCIDENT__V1__SCOPE__SCOPE_LOCAL,
                 INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "olga");
    for (int k = KIND(ACKNOWLEDGE); k <= KIND(HANDOVER); k++) {
        cr_expect(api_may_command(&tm, &global, k), "TM, global, kind %d", k);
        cr_expect(!api_may_command(&vic, &global, k), "viewer, kind %d", k);
        cr_expect(api_may_command(&csm, &local, k), "CSM owns an unnamed local, kind %d", k);
        cr_expect(api_may_command(&csm, &carls, k), "carl owns his, kind %d", k);
        int note_or_sign = k == KIND(NOTE) || k == KIND(SIGN_OFF);
        cr_expect_eq(api_may_command(&sam, &global, k), note_or_sign, "stakeholder, kind %d", k);
        cr_expect_eq(api_may_command(&csm, &global, k), note_or_sign, "CSM on global, kind %d", k);
        cr_expect_eq(api_may_command(&csm, &others, k), note_or_sign, "not carl's, kind %d", k);
        cr_expect_eq(api_may_command(&tm, &local, k), note_or_sign, "TM on local, kind %d", k);
    }
}

static Incident__V1__Command *parse(const char *body, arena_t *arena, char *field, char *err)
{
    return api_command_parse(body, strlen(body), "INC-1", "tina", arena, field, 64, err, 256);
}

Test(api_body, the_actor_and_incident_are_imposed_and_an_id_made)
{
    arena_t arena;
    arena_init(&arena, 0);
    char field[64], err[256];
    Incident__V1__Command *c = parse("{\"kind\":\"COMMAND_TASK_ADD\",\"text\":\"canary\","
                                     "\"preventive\":true,\"incident_id\":\"INC-1\"}",
                                     &arena, field, err);
    cr_assert(c, "%s", err);
    cr_expect_eq(c->kind, KIND(TASK_ADD));
    cr_expect_str_eq(c->actor, "tina");
    cr_expect_str_eq(c->incident_id, "INC-1");
    cr_expect(c->preventive);
    cr_expect(strncmp(c->command_id, "api-", 4) == 0, "%s", c->command_id);
    c = parse("{\"kind\":\"acknowledge\",\"command_id\":\"retry-7\",\"actor\":\"tina\"}", &arena,
              field, err);
    cr_assert(c, "%s", err);
    cr_expect_str_eq(c->command_id, "retry-7", "a client's id makes a retry idempotent");
    cr_expect_null(parse("{\"kind\":\"acknowledge\",\"command_id\":\"api-1\"}", &arena, field, err),
                   "the API's own ids are refused");
    cr_expect_str_eq(field, "command_id");
    arena_destroy(&arena);
}

Test(api_body, refusals_name_the_field)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"kind\":\"COMMAND_ACKNOWLEDGE\",\"actor\":\"mallory\"}", "actor"},
        {"{\"kind\":\"COMMAND_NOTE\",\"text\":\"x\",\"incident_id\":\"INC-2\"}", "incident_id"},
        {"{\"kind\":\"COMMAND_BOGUS\"}", "kind"},
        {"{}", "kind"},
        {"{\"kind\":\"COMMAND_NOTE\",\"txt\":\"x\"}", "txt"},
        {"{\"kind\":\"COMMAND_NOTE\"}", "text"},
        {"{\"kind\":\"COMMAND_REVIEW\",\"text\":\"x\"}", "root_cause"},
        {"{\"kind\":\"COMMAND_TASK_DONE\"}", "task_id"},
        {"{\"kind\":\"COMMAND_HANDOVER\"}", "assignee"},
        {"{\"kind\":\"COMMAND_MEETING\",\"attendees\":[]}", "attendees"},
        {"{\"kind\":\"COMMAND_NOTE\",\"text\":7}", "text"},
        {"[1,2]", ""},
        {"not json", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        arena_t arena;
        arena_init(&arena, 0);
        char field[64], err[256];
        cr_expect_null(parse(cases[i].body, &arena, field, err), "%s accepted", cases[i].body);
        cr_expect_str_eq(field, cases[i].field, "%s: %s", cases[i].body, err);
        cr_expect(err[0], "a reason in words");
        arena_destroy(&arena);
    }
}

Test(api_openapi, every_route_of_the_table_is_documented_once)
{
    cJSON *doc = api_openapi_doc();
    cr_assert(doc);
    cr_expect_str_eq(cJSON_GetObjectItem(doc, "openapi")->valuestring, "3.1.0");
    const cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    int ops = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paths) ops += cJSON_GetArraySize(p);
    cr_expect_eq((size_t)ops, api_n_routes);
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_t *rt = &api_routes[i];
        char m[8];
        snprintf(m, sizeof(m), "%s", rt->method);
        for (char *c = m; *c; c++)
            *c = (char)(*c | 0x20);
        const cJSON *op = cJSON_GetObjectItem(cJSON_GetObjectItem(paths, rt->path), m);
        cr_assert(op, "%s %s missing", rt->method, rt->path);
        cr_expect_str_eq(cJSON_GetObjectItem(op, "operationId")->valuestring, rt->op_id);
        const cJSON *resp = cJSON_GetObjectItem(op, "responses");
        cr_expect(cJSON_GetObjectItem(resp, rt->ok), "%s answers %s", rt->path, rt->ok);
        cr_expect_eq(cJSON_GetObjectItem(resp, "401") != NULL, rt->auth != API_AUTH_NONE,
                     "%s: 401 documented iff it needs a token", rt->path);
        cr_expect_eq(cJSON_GetObjectItem(resp, "403") != NULL,
                     rt->auth == API_AUTH_COMMAND || rt->auth == API_AUTH_CONTROL, "%s", rt->path);
        cr_expect_eq(cJSON_GetObjectItem(resp, "409") != NULL, rt->conflict != NULL, "%s",
                     rt->path);
        /* creating a silence or an override is refused past its cap */
        if (strcmp(rt->op_id, "createSilence") == 0 || strcmp(rt->op_id, "createOverride") == 0)
            cr_expect(rt->conflict && strstr(rt->conflict, ".max_active"), "%s", rt->path);
    }
    /* the console's files are routes too, each one served from the embedded assets */
    for (size_t i = 0; i < api_n_assets; i++) {
        int routed = 0;
        for (size_t k = 0; k < api_n_routes; k++)
            routed |= strcmp(api_routes[k].path, api_assets[i].path) == 0;
        cr_expect(routed, "asset %s has no route", api_assets[i].path);
    }
    cJSON_Delete(doc);
}
