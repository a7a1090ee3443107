"""The channel layer: the only code that imports anymail or twilio.

Each adapter verifies a provider's request, parses it into the frozen dataclasses of ``base``, and
sends outbound messages, returning the provider's receipt. Adapters never touch the ORM.
"""
