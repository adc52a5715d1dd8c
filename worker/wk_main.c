/*
 * tk-worker: drains the granted claims of every event from Redis into
 * MariaDB. One consumer per process; run several for a pool.
 */
#include "tk_log.h"
#include "wk_config.h"
#include "wk_drain.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    static wk_config_t cfg;
    char err[512];
    int rc = wk_config_parse(&cfg, argc, argv, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "tk-worker: %s\n", err);
        return 2;
    }
    tk_log_init("tk-worker", cfg.log_level);
    if (wk_config_password(&cfg, err, sizeof(err)) != 0) {
        tk_error("%s", err);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = wk_drain_run(&cfg, &stop_requested);
    memset(cfg.backend.db_password, 0, sizeof(cfg.backend.db_password));
    return rc;
}
