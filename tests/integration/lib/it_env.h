/*
 * it_env: the environment tests/integration/run.sh hands to every it_*
 * binary (docs/CONTRACTS.md, "Integration tests"), read and checked once.
 */
#ifndef IT_ENV_H
#define IT_ENV_H

#include <stddef.h>

typedef struct {
    const char *it_dir;           /* TK_IT_DIR: services' directory, logs go here */
    const char *build;            /* TK_BUILD: holds bin/tk-gateway, bin/tk-worker */
    const char *root;             /* TK_ROOT: the repository root */
    int redis_port;               /* REDIS_PORT */
    int db_port;                  /* DB_PORT */
    const char *db_user;          /* DB_USER */
    const char *db_name;          /* DB_NAME */
    const char *db_password_file; /* DB_PASSWORD_FILE */
    char db_password[256];        /* its content */
} it_env_t;

/**
 * The environment, read on the first call. When a variable is missing or
 * wrong it prints which one to stderr and returns NULL (every later call too).
 */
const it_env_t *it_env(void);

#endif
