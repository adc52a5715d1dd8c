/*
 * gw_server: the gateway process: one h2o context, event loop, listener
 * (SO_REUSEPORT) and Redis connection per thread; a shared TLS context; a
 * pool of database threads; and graceful shutdown.
 *
 * The types of the thread and the process are in gw_types.h: only
 * gw_server.c, which wires every module, and gw_main.c include this header.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "gw_config.h"

/**
 * Runs the gateway until SIGINT or SIGTERM: binds the listeners (refusing a
 * port already in use), starts the threads, then on a signal stops
 * accepting, lets in-flight requests finish (up to the configured timeout)
 * and frees everything. Returns the process exit code.
 */
int gw_server_run(gw_config_t *conf);

#endif
