"""``asgi-rotator login PRESET``: the subscription providers' own login flows, writing a credential file."""
