/*
 * api_console.c — serves the web console's files, compiled into the binary
 * (daemon/http/console/ turned into api_assets[] at build time by
 * cmake/embed.cmake). No file system access at run time.
 */
#include <string.h>

#include "api_internal.h"

enum MHD_Result api_console(api_req_t *r)
{
    for (size_t i = 0; i < api_n_assets; i++)
        if (strcmp(api_assets[i].path, r->route->path) == 0)
            return api_static(r, api_assets[i].content_type, api_assets[i].data, api_assets[i].len);
    return api_error(r, MHD_HTTP_NOT_FOUND, "not found", NULL, "not part of the console");
}
