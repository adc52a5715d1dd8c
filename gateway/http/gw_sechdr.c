#include "gw_sechdr.h"
#include "gw_tls.h"

#include <string.h>

static void add(h2o_req_t *req, const char *name, size_t nlen, const char *value, size_t vlen)
{
    /* set, not add: never a second copy of a header some handler already chose */
    h2o_set_header_by_str(&req->pool, &req->res.headers, name, nlen, 0, value, vlen, 0);
}

static int is_html(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->res.headers.entries[i].value;
    return v.len >= 9 && strncasecmp(v.base, "text/html", 9) == 0;
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (gw_tls_req_is_secure(req))
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, H2O_STRLIT(GW_SECHDR_HSTS), 0);
    if (is_html(req))
        add(req, H2O_STRLIT("content-security-policy"), H2O_STRLIT(GW_SECHDR_CSP_PAGE));
    else
        add(req, H2O_STRLIT("content-security-policy"), H2O_STRLIT(GW_SECHDR_CSP_OTHER));
    add(req, H2O_STRLIT("x-frame-options"), H2O_STRLIT("DENY"));
    add(req, H2O_STRLIT("x-content-type-options"), H2O_STRLIT("nosniff"));
    add(req, H2O_STRLIT("referrer-policy"), H2O_STRLIT("no-referrer"));
    h2o_setup_next_ostream(req, slot);
    (void)self;
}

void gw_sechdr_register(h2o_pathconf_t *pathconf)
{
    h2o_filter_t *f = h2o_create_filter(pathconf, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream;
}
