"""`secrets_store_secrets`: `get()` over the `secrets.get` host op."""

from .. import host


class SecretsStoreSecret:
    """`secrets_store_secrets`: `await get()` reads the secret from the local
    store that `wrangler secrets-store secret create --local` writes."""

    def __init__(self, name):
        self._name = name

    async def get(self):
        value, _ = host.call("secrets.get", {}, binding=self._name)
        return value

    def __repr__(self):
        return f"<SecretsStoreSecret {self._name}>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"secrets_store_secret": lambda name, raw: SecretsStoreSecret(name)}
