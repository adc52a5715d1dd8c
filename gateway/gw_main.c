/*
 * tk-gateway: the HTTPS front of the ticketing system. See README.md for
 * its flags and docs/DESIGN.md for how a claim flows through it.
 */
#include "gw_config.h"
#include "gw_server.h"
#include "tk_log.h"

#include <mysql.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    gw_config_t conf;
    char err[512];
    tk_log_init("tk-gateway", TK_LOG_INFO);
    int rc = gw_config_load(&conf, argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "tk-gateway: %s\n", err);
        return 2;
    }
    tk_log_level_t level;
    tk_log_parse_level(conf.log_level, &level);
    tk_log_init("tk-gateway", level);
    if (!conf.user_auth_required)
        tk_warn("WARNING: USER_AUTH=off: user tokens are NOT checked; any client may claim, and read the claim of, "
                "any user_id it names (v1 behaviour; benchmarks and trusted networks only)");
    if (conf.dev_login)
        tk_warn("WARNING: DEV_LOGIN=1: POST /v1/dev/login signs a user token for any user_id (demo only)");
    if (conf.access_key_random)
        tk_warn("WARNING: ACCESS_TOKEN_SECRET_FILE is unset: this gateway signs waiting-room access tokens with a key of its own; "
                "only a lone gateway can then admit (give every gateway the same 0600 file)");
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "tk-gateway: cannot initialise the MariaDB client library\n");
        return 1;
    }
    rc = gw_server_run(&conf);
    mysql_library_end();
    return rc;
}
