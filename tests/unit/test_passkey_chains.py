"""Removing a passkey removes the passkeys added while signed in with it, and theirs in
turn (services/identity/passkeys.py, Passkeys._added_with): a thief who added a second
passkey from the first one they added keeps neither (tests/unit/test_passkeys.py holds one
step; this, the steps after it)."""
from tests.passkey_authenticator import SoftAuthenticator
from tests.unit.test_passkeys import (ORIGIN, add_passkey, bearer, passkey_sign_in,  # noqa: F401
                                      password_sign_in, service)


def test_removing_a_passkey_removes_every_passkey_added_from_it_step_by_step(service):  # noqa: F811
    _, client = service
    desk = password_sign_in(client)
    phone_device, second, third = (SoftAuthenticator(ORIGIN) for _ in range(3))
    phones = add_passkey(client, desk["access_token"], phone_device, name="Phone")
    phone = passkey_sign_in(client, phone_device).json
    add_passkey(client, phone["access_token"], second, name="Phone 2")
    from_second = passkey_sign_in(client, second).json
    add_passkey(client, from_second["access_token"], third, name="Phone 3")
    from_third = passkey_sign_in(client, third).json

    gone = client.delete(f"/api/v1/auth/passkeys/{phones['id']}",
                         headers=bearer(desk["access_token"]))
    assert gone.status_code == 204
    assert client.get("/api/v1/auth/passkeys", headers=bearer(desk["access_token"])
                      ).json["items"] == []
    assert passkey_sign_in(client, third).status_code == 401
    refreshed = client.post("/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": from_third["refresh_token"]})
    assert refreshed.status_code == 401, refreshed.json
