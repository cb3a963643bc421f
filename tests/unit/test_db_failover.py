"""The plumbing a PostgreSQL failover needs (the failover itself, on real servers:
tests/integration/test_postgres_failover_real.py): several-host URLs, and telling "the
database is away" (503, try again) from a bug (500)."""
import psycopg
import pytest
import sqlalchemy as sa
from flask_smorest import Blueprint

from shared.db import database_unavailable, make_engine, postgres_url
from shared.web import create_flask_app


@pytest.mark.parametrize("given, expected", [
    ("postgresql://u:p@db:5432/linking", "postgresql+psycopg://u:p@db:5432/linking"),
    ("postgresql://u@h1:5432,h2:5433/linking?target_session_attrs=read-write",
     "postgresql+psycopg://u@/linking?host=h1:5432&host=h2:5433"
     "&target_session_attrs=read-write"),
    ("postgres://h1,h2/db", "postgresql+psycopg:///db?host=h1&host=h2"),
    ("sqlite:///var/x.db", "sqlite:///var/x.db"),
])
def test_libpq_urls_become_sqlalchemy_urls(given, expected):
    assert postgres_url(given) == expected


def test_a_several_host_url_reaches_the_driver_with_a_connect_timeout():
    engine = make_engine("postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write")
    _, params = engine.dialect.create_connect_args(engine.url)
    assert params["host"] == "h1,h2" and params["port"] == "5432,5433"
    assert params["target_session_attrs"] == "read-write"
    url_timeout = make_engine("postgresql://u@h/db?connect_timeout=2")
    assert url_timeout.dialect.create_connect_args(url_timeout.url)[1]["connect_timeout"] == "2"


def _wrapped(orig, invalidated=False):
    return sa.exc.DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error,
                                      connection_invalidated=invalidated)


def test_unavailable_is_a_lost_server_not_a_wrong_statement():
    assert database_unavailable(psycopg.OperationalError("connection failed"))
    assert database_unavailable(_wrapped(psycopg.OperationalError("no host")))
    assert database_unavailable(_wrapped(psycopg.errors.ReadOnlySqlTransaction("ro")))
    assert database_unavailable(_wrapped(psycopg.errors.AdminShutdown("bye")))
    assert database_unavailable(_wrapped(psycopg.errors.ConnectionFailure("gone")))
    assert database_unavailable(_wrapped(psycopg.errors.UniqueViolation("dup"), True))
    assert database_unavailable(sa.exc.TimeoutError("pool"))
    assert not database_unavailable(_wrapped(psycopg.errors.UniqueViolation("dup")))
    assert not database_unavailable(_wrapped(psycopg.errors.UndefinedTable("x")))
    assert not database_unavailable(ValueError("bug"))


def test_a_request_without_a_database_answers_503_with_retry_after():
    blp = Blueprint("t", __name__)

    @blp.route("/api/v1/away", methods=["GET"])
    def away():
        raise _wrapped(psycopg.OperationalError("no host satisfied target_session_attrs"))

    @blp.route("/api/v1/bug", methods=["GET"])
    def bug():
        raise _wrapped(psycopg.errors.UndefinedTable("x"))

    client = create_flask_app("test", ready=dict, verifier=None,
                              blueprints=[blp]).test_client()
    away = client.get("/api/v1/away")
    assert away.status_code == 503 and away.headers["Retry-After"] == "5"
    assert away.json["error"]["code"] == "unavailable"
    bug = client.get("/api/v1/bug")
    assert bug.status_code == 500 and "Retry-After" not in bug.headers
