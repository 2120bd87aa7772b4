"""``stemforge serve`` and ``stemforge users ...``: the web platform's commands.

:func:`register` adds them to the main Typer app. Nothing heavy is imported until a
command runs (the rest of the command line stays fast to start).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from typing import Annotated

import typer

users_app = typer.Typer(
    help="Accounts of server mode (stemforge serve --server): add, list, remove.",
    no_args_is_help=True,
)


def _console():
    from rich.console import Console

    return Console(), Console(stderr=True)


def _fail(error) -> None:
    _, err = _console()
    err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    from stemforge.web.errors import WebConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WebConfigError(
            f"cannot resolve the host {host!r} ({exc.strerror}).",
            hint="Use an IP address such as 127.0.0.1 or 0.0.0.0.",
        ) from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise WebConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}).",
            hint="Another program may use the port: choose another with --port.",
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8000,
    server: Annotated[
        bool,
        typer.Option("--server", help="Server mode: accounts and logins, one library per user."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Jobs run at once (default: cores minus one)."),
    ] = None,
    executor: Annotated[
        str,
        typer.Option("--executor", help="local (processes on this machine) or ray (a cluster)."),
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="The Ray cluster (with --executor ray).")
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", min=0.001, help="Largest upload request (MB).")
    ] = 2048.0,
    analyzer: Annotated[
        str, typer.Option("--analyzer", help="What uploads get: full or quick analysis.")
    ] = "full",
) -> None:
    """Start the web platform (library, track pages, jobs) and print its URL. Local mode
    (the default) has no login and listens on this machine only; --server adds accounts
    (create them with `stemforge users add`)."""
    import uvicorn

    from stemforge.errors import StemforgeError
    from stemforge.web.app import WebSettings, create_app
    from stemforge.web.auth import list_users

    console, err = _console()
    settings = WebSettings(
        mode="server" if server else "local",
        host=host,
        port=port,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        executor=executor,
        workers=workers,
        ray_address=address,
        analyzer=analyzer,
    )
    try:
        settings.check()
        sock = _bind(host, port)
        app = create_app(settings)
    except StemforgeError as error:
        _fail(error)
        return
    bound_port = sock.getsockname()[1]
    url = WebSettings(host=host, port=bound_port).url
    if server and not any(u.has_password for u in list_users(app.state.library)):
        err.print(
            "[yellow]No accounts yet:[/] create one with `stemforge users add NAME --admin`.",
            highlight=False,
        )
    mode = "server mode (log in with an account)" if server else "local mode (no login)"
    console.print(f"stemforge is running in {mode} at [bold]{url}[/]", highlight=False)
    console.print("Press Ctrl+C to stop.", highlight=False)
    sys.stdout.flush()
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=5, proxy_headers=server
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C once stopped
        uvicorn.Server(config).run(sockets=[sock])
    console.print("stemforge stopped.", highlight=False)


def _library():
    from stemforge.library import Library

    return Library.open()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user name (letters, digits, . _ - @).")],
    admin: Annotated[bool, typer.Option("--admin", help="An administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an account for server mode (asks for the password twice)."""
    from stemforge.errors import StemforgeError
    from stemforge.web.auth import create_user

    try:
        with _library() as lib:
            user = create_user(lib, name, _read_password(password_stdin), is_admin=admin)
    except StemforgeError as error:
        _fail(error)
        return
    console, _ = _console()
    role = "administrator" if user.is_admin else "user"
    console.print(f"Created {role} {user.name} (id {user.id}).", highlight=False)


@users_app.command("password")
def users_password(
    name: Annotated[str, typer.Argument(help="The user name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password (the user's login sessions end)."""
    from stemforge.errors import StemforgeError
    from stemforge.web.auth import set_password

    try:
        with _library() as lib:
            set_password(lib, name, _read_password(password_stdin))
    except StemforgeError as error:
        _fail(error)
        return
    _console()[0].print(f"New password set for {name}.", highlight=False)


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the accounts."""
    from rich.table import Table

    from stemforge.errors import StemforgeError
    from stemforge.web.auth import list_users

    try:
        with _library() as lib:
            users = list_users(lib)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps([u.to_dict() for u in users], indent=2) + "\n")
        return
    table = Table(title=f"{len(users)} user(s)")
    for column in ("id", "name", "admin", "can log in", "created"):
        table.add_column(column)
    for u in users:
        table.add_row(
            str(u.id),
            u.name,
            "yes" if u.is_admin else "",
            "yes" if u.has_password else "no (local mode)",
            u.created_at[:19],
        )
    _console()[0].print(table)


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="The user name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove an account with its library (tracks and their media), sessions and jobs."""
    from stemforge.errors import StemforgeError
    from stemforge.web.auth import remove_user

    if not yes:
        typer.confirm(f"Remove {name} and every track of theirs?", abort=True)
    try:
        with _library() as lib:
            count = remove_user(lib, name)
    except StemforgeError as error:
        _fail(error)
        return
    _console()[0].print(f"Removed {name} and {count} track(s).", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``users`` to the ``stemforge`` command line."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
