#include "tk_wait.h"

#include <stdio.h>
#include <string.h>

void tk_wait_argv(tk_wait_cmd_t *cmd, long replicas, long timeout_ms)
{
    cmd->argv[0] = "WAIT";
    cmd->lens[0] = 4;
    cmd->lens[1] = (size_t)snprintf(cmd->n, sizeof(cmd->n), "%ld", replicas);
    cmd->argv[1] = cmd->n;
    cmd->lens[2] = (size_t)snprintf(cmd->ms, sizeof(cmd->ms), "%ld", timeout_ms);
    cmd->argv[2] = cmd->ms;
}

tk_wait_result_t tk_wait_result(const redisReply *rep, long replicas, long long *got)
{
    if (got != NULL)
        *got = -1;
    if (rep == NULL || rep->type != REDIS_REPLY_INTEGER || rep->integer < 0)
        return TK_WAIT_ERROR;
    if (got != NULL)
        *got = rep->integer;
    return rep->integer >= replicas ? TK_WAIT_OK : TK_WAIT_SHORT;
}
