"""The Celery task a host's agent runs: one host driver call, asked for by a controller (hosts.rpc)."""

from celery import shared_task

from hosts.rpc import CALLABLE, HOST_CALL_TASK, decode, host_call_wanted, host_reply


@shared_task(name=HOST_CALL_TASK, ignore_result=True, acks_late=False)
def host_call_run(method: str, args: list, reply_to: str) -> None:
    """Runs `method` of this agent's driver on its engine and replies; a call that fails replies with its error."""
    from hosts.agent import agent_driver, agent_logs_flush, agent_run_attached

    if method not in CALLABLE:
        host_reply(reply_to, error=f"{method} is not a call an agent answers")
        return
    if not host_call_wanted(reply_to):
        return  # the controller gave up on it (this agent was away): running it now could undo what came after
    try:
        arguments = decode(args)
        if method == "job_remove":
            agent_logs_flush(arguments[0])
        if method == "job_start_attached":
            value = agent_run_attached(*arguments)
        else:
            value = getattr(agent_driver(), method)(*arguments)
    except Exception as error:  # noqa: BLE001 - every failure goes back to the caller, which decides
        host_reply(reply_to, error=f"{type(error).__name__}: {error}")
    else:
        host_reply(reply_to, value=value)
