import sys

from mlflow_ldap_auth.cli import main

sys.exit(main())
