"""Kerberos single sign-on (docs/kerberos.md): ``Authorization: Negotiate`` with a ticket.

Everything here needs the ``kerberos`` extra (pyspnego over python-gssapi); a plain
install never imports it.
"""
