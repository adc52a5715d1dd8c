/*
 * wk_drain: the worker's loop (see wk_drain.c for why it is exact).
 */
#ifndef WK_DRAIN_H
#define WK_DRAIN_H

#include "wk_config.h"

#include <signal.h>

/**
 * Drains every event stream into MariaDB until *@stop is set, then finishes
 * the batch in hand and returns 0; returns 1 after a fatal error or when it
 * had to stop with MariaDB unreachable (entries then stay pending in Redis).
 */
int wk_drain_run(const wk_config_t *cfg, const volatile sig_atomic_t *stop);

#endif
