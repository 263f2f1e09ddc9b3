"""Mail in: the SMTP submission server, its credentials, and stored content.

mailpools submit [--host 127.0.0.1] [--port 587] [--tls-cert PATH --tls-key PATH] [--implicit-tls]
mailpools credentials create --kind KIND --as OWNER [--json]
mailpools credentials list [--json] [--as USER]
mailpools credentials revoke ID --as USER
mailpools content purge [--days N]
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from platformdirs import user_data_dir

from app import clock, settings
from app.cli.arguments import whole_number
from app.cli.common import (
    acting_user,
    add_as_option,
    add_json_option,
    command,
    engine,
    group,
    local_reader,
    print_json,
    print_table,
    serve_until_signalled,
    transaction,
)
from app.errors import MailpoolsError
from app.services import contents, credentials
from data.db import checkpoints_in_background

KINDS = ["transactional", "campaign", "broadcast"]


def state_directory() -> Path:
    """Where `submit` keeps the self-signed certificate it makes when given none."""
    return Path(user_data_dir("mailpools"))


def register(subparsers) -> None:
    submit = command(
        subparsers,
        "submit",
        _submit,
        "run the SMTP submission server (AUTH after STARTTLS; Ctrl-C or SIGTERM stops it)",
    )
    submit.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    submit.add_argument(
        "--port",
        type=whole_number,
        help="port (587, or 465 with --implicit-tls; 0 picks a free one)",
    )
    submit.add_argument(
        "--tls-cert",
        type=Path,
        metavar="PATH",
        help="PEM certificate (chain); default: a self-signed one, made on first start",
    )
    submit.add_argument("--tls-key", type=Path, metavar="PATH", help="its PEM private key")
    submit.add_argument(
        "--implicit-tls",
        action="store_true",
        help="TLS from the first byte, as on port 465, instead of offering STARTTLS",
    )

    credential_group = group(subparsers, "credentials", "logins for SMTP submission")
    create = command(
        credential_group,
        "create",
        _credentials_create,
        "a new login for your account, for one kind of message; prints its secret once",
    )
    create.add_argument("--kind", required=True, choices=KINDS)
    add_as_option(create)
    add_json_option(create)
    listing = command(
        credential_group, "list", _credentials_list, "your account's logins (agents: every one)"
    )
    add_json_option(listing)
    add_as_option(listing, required=False)
    revoke = command(credential_group, "revoke", _credentials_revoke, "stop a login working")
    revoke.add_argument("id", type=whole_number, metavar="ID")
    add_as_option(revoke)

    content_group = group(subparsers, "content", "stored message content")
    purge = command(
        content_group,
        "purge",
        _content_purge,
        "delete the content of messages that finished long enough ago (run it daily)",
    )
    purge.add_argument(
        "--days",
        type=whole_number,
        metavar="N",
        help="days after the last message using it finished (default: "
        "MAILPOOLS_CONTENT_RETENTION_DAYS, 7)",
    )


def _submit(args) -> int:
    from app.submission.certificate import CertificateFiles, self_signed_files, server_context
    from app.submission.server import serve_submission

    if args.port is None:
        args.port = 465 if args.implicit_tls else 587
    if not 0 <= args.port <= 65_535:
        raise MailpoolsError(f"--port must be from 0 to 65,535, not {args.port}.")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise MailpoolsError("Give --tls-cert and --tls-key together, or neither.")
    if args.tls_cert is not None:
        files = CertificateFiles(args.tls_cert, args.tls_key)
    else:
        files = self_signed_files(state_directory(), args.host)
        made = "Created" if files.created else "Using"
        print(
            f"{made} a self-signed certificate: {files.certificate} (key {files.key}); "
            "give --tls-cert and --tls-key to use your own.",
            flush=True,
        )
    context = server_context(files)
    logging.basicConfig(level=logging.WARNING, format="mailpools submit: %(message)s")

    async def main() -> None:
        try:
            server = await serve_submission(
                engine(), args.host, args.port, context, implicit_tls=args.implicit_tls
            )
        except OSError as error:
            raise MailpoolsError(
                f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}."
            ) from None
        port = server.sockets[0].getsockname()[1]
        how = "implicit TLS" if args.implicit_tls else "STARTTLS"
        print(f"mailpools submit listening on {args.host}:{port} ({how})", flush=True)
        await serve_until_signalled(server)

    with checkpoints_in_background(engine()):
        asyncio.run(main())
    return 0


def _credentials_create(args) -> int:
    with transaction() as session:
        outcome = credentials.create_credential(session, acting_user(session, args), kind=args.kind)
    created = outcome.subject
    if args.json:
        print_json(created.as_json())
        return 0
    print(outcome.summary)
    print(f"username: {created.credential.username}")
    print(f"secret:   {created.secret}")
    return 0


def _credentials_list(args) -> int:
    with transaction() as session:
        views = credentials.list_credentials(session, local_reader(session, args))
    if args.json:
        print_json([view.as_json() for view in views])
        return 0
    if not views:
        print("No credentials yet: `mailpools credentials create --kind K --as OWNER` makes one.")
        return 0
    rows = [
        [
            view.id,
            view.account,
            view.kind,
            view.username,
            f"{view.created_at:%Y-%m-%d %H:%M}",
            view.created_by,
            f"{view.revoked_at:%Y-%m-%d %H:%M} by {view.revoked_by}" if view.revoked_at else "",
        ]
        for view in views
    ]
    print_table(["id", "account", "kind", "username", "created", "by", "revoked"], rows)
    return 0


def _credentials_revoke(args) -> int:
    with transaction() as session:
        outcome = credentials.revoke_credential(session, acting_user(session, args), args.id)
    print(outcome.summary)
    return 0


def _content_purge(args) -> int:
    days = args.days or settings.current().content_retention_days
    with transaction() as session:
        deleted = contents.purge_finished(session, retention_days=days, now=clock.now())
    print(
        f"Deleted the content of {deleted:,} submission{'s' if deleted != 1 else ''} "
        f"finished more than {days} day{'s' if days != 1 else ''} ago."
    )
    return 0
