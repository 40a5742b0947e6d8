"""The Celery app of `underdog workers start` (`celery -A underdog_assets.celery_worker`).

Built from the same settings as the celery executor (underdog_assets/defs/common/executors.py):
same broker, backend, key prefix and acks-late policy, and dagster-celery's step task.
"""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from underdog.config import load_settings
from underdog_assets.defs.common.executors import celery_execution_config

app = make_app(celery_execution_config(load_settings()))
execute_plan = create_task(app)

# The code location, built once here: the pool's forked children inherit it instead of
# importing and building it (torch, pandas, dagster's definitions: seconds) at every step.
from underdog_assets.runs import job_named  # noqa: E402

job_named("market_daily")
