/*
 * tk_opt: configuration from flags and environment, table-driven.
 *
 * Each option has a flag and an environment variable; the target holds the
 * default, the environment overrides it, the flag overrides both. Every value
 * is validated as it is read, and the first bad one stops the parse with a
 * message naming it, so a process never starts half-configured.
 */
#ifndef TK_OPT_H
#define TK_OPT_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    TK_OPT_STR,  /* target: const char ** (points into argv, environ or the default) */
    TK_OPT_INT,  /* target: long *, checked against min..max */
    TK_OPT_FLAG, /* target: int *, set to 1 by the flag alone; env "1"/"0" */
} tk_opt_type_t;

typedef struct {
    const char *flag; /* "--redis-port"; takes "--flag value" or "--flag=value" */
    const char *env;  /* "REDIS_PORT", or NULL */
    tk_opt_type_t type;
    void *target;
    long min, max; /* TK_OPT_INT only */
    const char *help;
} tk_opt_t;

/* The --log-level entry every program shares; @target is a const char ** (checked by tk_log_parse_level after the parse). */
#define TK_OPT_LOG_LEVEL(target) {"--log-level", "LOG_LEVEL", TK_OPT_STR, (target), 0, 0, "debug, info, warn or error"}

/* The count of entries of an option table (an array, not a pointer). */
#define TK_OPT_COUNT(opts) (sizeof(opts) / sizeof((opts)[0]))

/**
 * Applies the environment, then argv[1..argc-1], to the targets of @opts.
 * Returns 0; 1 when --help was given (usage was printed to stdout); -1 with
 * a message in @err on an unknown flag or a bad value.
 */
int tk_opt_parse(const tk_opt_t *opts, size_t n, int argc, char **argv, char *err, size_t errlen);

/** Prints one line per option: flag, variable, default and help. */
void tk_opt_usage(FILE *out, const char *prog, const tk_opt_t *opts, size_t n);

/**
 * Reads a secret from @path into @buf (@len bytes), dropping one trailing
 * newline. Returns 0, or -1 with a message in @err (missing, not a regular
 * file, readable by group or others, empty, too long).
 */
int tk_read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen);

/**
 * The one rule for every secret file (passwords, tokens, signing keys): a
 * regular file that group and others cannot access, as scripts/lib.sh
 * writes them (0600). @fd is open on @path. Returns 0, or -1 with why in
 * @err.
 */
int tk_secret_fd_check(int fd, const char *path, char *err, size_t errlen);

#endif
