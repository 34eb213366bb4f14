"""Kerberos single sign-on (docs/kerberos.md): ``Authorization: Negotiate`` with a ticket.

``acceptor``: the accept step (python-gssapi, from the ``kerberos`` extra, imported when
an acceptor is built, never at import time: a plain install imports this package and
never the extra); ``negotiate``: the accept and the ticket's login together, audited,
and the start-up check of the extra and the keytab; ``keytab``: what a keytab file
holds, read in pure Python (the ``check`` command, and the default service principal:
the keytab's first ``HTTP/`` one). The ticket's login itself (the directory user,
admitted as a password login) is ``auth.ticket_login``.
"""
