#include "tk_opt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int set_value(const tk_opt_t *o, const char *origin, const char *value, char *err, size_t errlen)
{
    switch (o->type) {
    case TK_OPT_STR:
        *(const char **)o->target = value;
        return 0;
    case TK_OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s=%s: expected a whole number from %ld to %ld", origin, value, o->min, o->max);
            return -1;
        }
        *(long *)o->target = v;
        return 0;
    }
    case TK_OPT_FLAG:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
            *(int *)o->target = 1;
        } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
            *(int *)o->target = 0;
        } else {
            snprintf(err, errlen, "%s=%s: expected 1 or 0", origin, value);
            return -1;
        }
        return 0;
    }
    return -1;
}

int tk_opt_parse(const tk_opt_t *opts, size_t n, int argc, char **argv, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = opts[i].env != NULL ? getenv(opts[i].env) : NULL;
        if (v != NULL && *v != '\0' && set_value(&opts[i], opts[i].env, v, err, errlen) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            tk_opt_usage(stdout, argv[0], opts, n);
            return 1;
        }
        const tk_opt_t *o = NULL;
        const char *value = NULL;
        for (size_t i = 0; i < n && o == NULL; i++) {
            size_t fl = strlen(opts[i].flag);
            if (strncmp(arg, opts[i].flag, fl) != 0)
                continue;
            if (arg[fl] == '\0') {
                o = &opts[i];
            } else if (arg[fl] == '=') {
                o = &opts[i];
                value = arg + fl + 1;
            }
        }
        if (o == NULL) {
            snprintf(err, errlen, "unknown option %s (see --help)", arg);
            return -1;
        }
        if (value == NULL && o->type == TK_OPT_FLAG) {
            *(int *)o->target = 1;
            continue;
        }
        if (value == NULL) {
            if (a + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", o->flag);
                return -1;
            }
            value = argv[++a];
        }
        if (set_value(o, o->flag, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void tk_opt_usage(FILE *out, const char *prog, const tk_opt_t *opts, size_t n)
{
    fprintf(out, "usage: %s [options]\n", prog);
    for (size_t i = 0; i < n; i++) {
        const tk_opt_t *o = &opts[i];
        char def[64] = "";
        if (o->type == TK_OPT_STR && *(const char **)o->target != NULL)
            snprintf(def, sizeof(def), " (default %s)", *(const char **)o->target);
        else if (o->type == TK_OPT_INT)
            snprintf(def, sizeof(def), " (default %ld)", *(long *)o->target);
        fprintf(out, "  %-24s %-20s %s%s\n", o->flag, o->env != NULL ? o->env : "", o->help, def);
    }
}

int tk_secret_fd_check(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s: group or others may access it (mode %04o); chmod 600 it", path,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

int tk_read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    /* checked on the open file, so the file read is the file checked */
    if (tk_secret_fd_check(fileno(f), path, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    size_t got = fread(buf, 1, len, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got == len) {
        snprintf(err, errlen, "cannot read %s: %s", path, bad ? "read error" : "longer than allowed");
        return -1;
    }
    buf[got] = '\0';
    if (got > 0 && buf[got - 1] == '\n')
        buf[--got] = '\0';
    if (got > 0 && buf[got - 1] == '\r')
        buf[--got] = '\0';
    if (got == 0) {
        snprintf(err, errlen, "%s is empty", path);
        return -1;
    }
    return 0;
}
