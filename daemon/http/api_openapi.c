/*
 * api_openapi.c — GET /v1/openapi.json: the OpenAPI 3.1 document, built from
 * the route table (api_routes.c) at each request, so it describes exactly
 * the routes that dispatch serves, with who may call them. The schemas of
 * the messages name their fields; `kind` lists CommandKind's values from
 * the protobuf descriptor.
 */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "pbjson.h"

static cJSON *api_oa_ref(const char *schema)
{
    char ref[128];
    snprintf(ref, sizeof(ref), "#/components/schemas/%s", schema);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "$ref", ref);
    return o;
}

/* An object schema whose properties are the fields of @p desc (types
 * loosely: strings, integers, booleans, arrays, objects). */
static cJSON *api_oa_message(const ProtobufCMessageDescriptor *desc)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON_AddStringToObject(s, "description", desc->name);
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        cJSON *p = cJSON_CreateObject();
        const char *type = "string";
        if (f->type == PROTOBUF_C_TYPE_BOOL)
            type = "boolean";
        else if (f->type == PROTOBUF_C_TYPE_MESSAGE)
            type = "object";
        else if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_ENUM &&
                 f->type != PROTOBUF_C_TYPE_BYTES)
            type = "integer";
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            cJSON_AddStringToObject(p, "type", "array");
            cJSON *items = cJSON_AddObjectToObject(p, "items");
            cJSON_AddStringToObject(items, "type", type);
        } else {
            cJSON_AddStringToObject(p, "type", type);
        }
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            const ProtobufCEnumDescriptor *ed = f->descriptor;
            cJSON *e = cJSON_AddArrayToObject(p, "enum");
            for (unsigned k = 0; k < ed->n_values; k++)
                cJSON_AddItemToArray(e, cJSON_CreateString(ed->values[k].name));
        }
        cJSON_AddItemToObject(props, f->name, p);
    }
    return s;
}

static cJSON *api_oa_schemas(void)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddItemToObject(s, "Incident", api_oa_message(&incident__v1__incident__descriptor));
    cJSON_AddItemToObject(s, "AuditRecord",
                          api_oa_message(&incident__v1__audit_record__descriptor));
    cJSON *cmd = api_oa_message(&incident__v1__command__descriptor);
    cJSON *req = cJSON_AddArrayToObject(cmd, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("kind"));
    cJSON_AddStringToObject(cmd, "description",
                            "incident.v1.Command: incident_id and actor come from the path and "
                            "the token; command_id is made when not given");
    cJSON_AddItemToObject(s, "Command", cmd);
    cJSON *acc = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"command_id\":{\"type\":"
                             "\"string\"},\"incident_id\":{\"type\":\"string\"},\"kind\":{"
                             "\"type\":\"string\"},\"actor\":{\"type\":\"string\"}}}");
    cJSON_AddItemToObject(s, "CommandAccepted", acc);
    cJSON *list = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"incidents\":{\"type\":"
                              "\"array\",\"items\":{\"$ref\":\"#/components/schemas/Incident\"}},"
                              "\"next_cursor\":{\"type\":[\"string\",\"null\"]}}}");
    cJSON_AddItemToObject(s, "IncidentList", list);
    cJSON *detail = cJSON_Parse(
        "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},\"live\":{\"type\":"
        "\"boolean\"},\"source\":{\"type\":\"string\",\"enum\":[\"redis\",\"audit\",\"none\"]},"
        "\"incident\":{\"$ref\":\"#/components/schemas/Incident\"},\"timeline\":{\"type\":"
        "\"array\",\"items\":{\"$ref\":\"#/components/schemas/AuditRecord\"}},"
        "\"timeline_source\":{\"type\":\"string\",\"enum\":[\"redis\",\"audit\"],"
        "\"description\":\"where the timeline and chain were read: the incident's timeline "
        "in Redis, or ormis.audit (an incident Redis keeps no whole timeline of)\"},\"chain\":{"
        "\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},\"records\":{\"type\":"
        "\"integer\"},\"first_bad\":{\"type\":\"integer\"},\"reason\":{\"type\":\"string\"}}}}}");
    cJSON_AddItemToObject(s, "IncidentDetail", detail);
    cJSON *err = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"error\":{\"type\":"
                             "\"string\"},\"message\":{\"type\":\"string\"},\"field\":{\"type\":"
                             "\"string\"}}}");
    cJSON_AddItemToObject(s, "Error", err);
    cJSON_AddItemToObject(
        s, "Me",
        cJSON_Parse("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                    "\"role\":{\"type\":\"string\"},\"may_command\":{\"type\":\"boolean\"},"
                    "\"may_control\":{\"type\":\"boolean\"},\"open\":{\"type\":\"boolean\"}}}"));
    cJSON *sil = api_oa_message(&incident__v1__silence__descriptor);
    cJSON_AddStringToObject(sil, "description",
                            "incident.v1.Silence: ends_at_ms, comment and a matcher required; "
                            "created_by is the token's person; id and starts_at_ms default to "
                            "a new id and now");
    cJSON_AddItemToObject(s, "Silence", sil);
    cJSON_AddItemToObject(
        s, "SilenceList",
        cJSON_Parse("{\"type\":\"object\",\"properties\":{\"silences\":{\"type\":\"array\","
                    "\"items\":{\"$ref\":\"#/components/schemas/Silence\"}},\"maintenance\":{"
                    "\"type\":\"array\",\"items\":{\"type\":\"object\"}}}}"));
    cJSON *ovr = api_oa_message(&incidentd__v1__rotation_override__descriptor);
    cJSON_AddStringToObject(ovr, "description",
                            "incidentd.v1.RotationOverride: person, from_ms and until_ms "
                            "required; rotation from the path, created_by the token's person");
    cJSON_AddItemToObject(s, "RotationOverride", ovr);
    cJSON_AddItemToObject(
        s, "RotationList",
        cJSON_Parse("{\"type\":\"object\",\"properties\":{\"rotations\":{\"type\":\"array\","
                    "\"items\":{\"type\":\"object\"}}}}"));
    cJSON_AddItemToObject(s, "Expired",
                          cJSON_Parse("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":"
                                      "\"string\"},\"expired\":{\"type\":\"boolean\"}}}"));
    return s;
}

static void api_oa_response(cJSON *responses, const char *code, const char *text,
                            const char *content, const char *schema)
{
    cJSON *r = cJSON_AddObjectToObject(responses, code);
    cJSON_AddStringToObject(r, "description", text);
    if (!content)
        return;
    cJSON *media = cJSON_AddObjectToObject(cJSON_AddObjectToObject(r, "content"), content);
    if (schema)
        cJSON_AddItemToObject(media, "schema", api_oa_ref(schema));
}

static cJSON *api_oa_operation(const api_route_t *rt)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "operationId", rt->op_id);
    cJSON_AddStringToObject(op, "summary", rt->summary);
    static const char *const auth_names[] = {"none", "read", "command", "control"};
    cJSON_AddStringToObject(op, "x-incidentd-auth", auth_names[rt->auth]);
    if (rt->auth == API_AUTH_NONE)
        cJSON_AddItemToObject(op, "security", cJSON_CreateArray());
    cJSON *params = cJSON_AddArrayToObject(op, "parameters");
    for (int i = 0; i < API_MAX_PARAMS && rt->params[i].name; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", rt->params[i].name);
        cJSON_AddStringToObject(p, "in", rt->params[i].in);
        cJSON_AddStringToObject(p, "description", rt->params[i].help);
        cJSON_AddBoolToObject(p, "required", strcmp(rt->params[i].in, "path") == 0);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "schema"), "type", rt->params[i].type);
        cJSON_AddItemToArray(params, p);
    }
    if (rt->body) {
        cJSON *rb = cJSON_AddObjectToObject(op, "requestBody");
        cJSON_AddBoolToObject(rb, "required", 1);
        cJSON *media =
            cJSON_AddObjectToObject(cJSON_AddObjectToObject(rb, "content"), "application/json");
        cJSON_AddItemToObject(media, "schema", api_oa_ref(rt->body));
    }
    cJSON *resp = cJSON_AddObjectToObject(op, "responses");
    api_oa_response(resp, rt->ok, rt->summary, rt->content, rt->schema);
    if (rt->body || rt->params[0].name)
        api_oa_response(resp, "400", "bad request (names the field)", "application/json", "Error");
    if (rt->auth != API_AUTH_NONE) {
        api_oa_response(resp, "401", "no or unknown bearer token", "application/json", "Error");
        api_oa_response(resp, "429", "over api.rate (Retry-After)", "application/json", "Error");
    }
    if (rt->auth == API_AUTH_COMMAND || rt->auth == API_AUTH_CONTROL)
        api_oa_response(resp, "403", "the role may not", "application/json", "Error");
    if (strchr(rt->path, '{'))
        api_oa_response(resp, "404", "no such resource", "application/json", "Error");
    if (rt->conflict)
        api_oa_response(resp, "409", rt->conflict, "application/json", "Error");
    return op;
}

cJSON *api_openapi_doc(void)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.1.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "incidentd API");
    cJSON_AddStringToObject(info, "version", INCIDENTD_VERSION);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_t *rt = &api_routes[i];
        cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, rt->path);
        if (!item)
            item = cJSON_AddObjectToObject(paths, rt->path);
        char method[16];
        size_t n = strlen(rt->method);
        for (size_t k = 0; k < n && k < sizeof(method) - 1; k++)
            method[k] = (char)(rt->method[k] | 0x20); /* lower case */
        method[n < sizeof(method) - 1 ? n : sizeof(method) - 1] = '\0';
        cJSON_AddItemToObject(item, method, api_oa_operation(rt));
    }
    cJSON *comp = cJSON_AddObjectToObject(doc, "components");
    cJSON_AddItemToObject(comp, "schemas", api_oa_schemas());
    cJSON *bearer =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(comp, "securitySchemes"), "bearer");
    cJSON_AddStringToObject(bearer, "type", "http");
    cJSON_AddStringToObject(bearer, "scheme", "bearer");
    cJSON *sec = cJSON_AddArrayToObject(doc, "security");
    cJSON *req = cJSON_CreateObject();
    cJSON_AddItemToObject(req, "bearer", cJSON_CreateArray());
    cJSON_AddItemToArray(sec, req);
    return doc;
}

enum MHD_Result api_openapi(api_req_t *r) { return api_json(r, MHD_HTTP_OK, api_openapi_doc()); }
