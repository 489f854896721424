"""The OUAF tables the monitor reads, as a simulated CC&B holds them (PostgreSQL or SQLite).

Only the columns the monitor's SQL uses, plus a few that make the rows look like CC&B's.
Names are lower case here so that SQLAlchemy emits them unquoted: the SQL files under
include/sql write them in upper case, as on Oracle, and PostgreSQL folds both to lower case.
Codes are CHAR like OUAF's (PostgreSQL pads them), numbers are NUMERIC like Oracle's NUMBER,
timestamps carry no zone (CC&B stores the server's wall-clock time). There are no primary
keys: a reporting copy of CC&B may hold duplicate rows, and the reader must cope with them.
"""

from __future__ import annotations

from sqlalchemy import CHAR, Column, Date, DateTime, Engine, Index, MetaData, Numeric, String, Table

metadata = MetaData()

_CODE = CHAR(30)  # BATCH_CD: OUAF codes are CHAR; 30 wide so site codes like BILLRESTSMS fit
_STATUS = CHAR(2)  # '10', '20', '30', '40' (some sites 'ER')
_NUMBER = Numeric(18, 0)
_TS = DateTime(timezone=False)

ci_batch_run = Table(
    "ci_batch_run",
    metadata,
    Column("batch_cd", _CODE, nullable=False),
    Column("batch_nbr", _NUMBER, nullable=False),
    Column("batch_rerun_nbr", _NUMBER, nullable=False),
    Column("batch_bus_dt", Date),
    Column("run_status", _STATUS),
    Column("start_dttm", _TS),
    Column("end_dttm", _TS),
    Column("user_id", CHAR(8)),
    Index("ci_batch_run_k", "batch_cd", "batch_nbr", "batch_rerun_nbr"),
    Index("ci_batch_run_start", "start_dttm"),
)

ci_batch_thd = Table(
    "ci_batch_thd",
    metadata,
    Column("batch_cd", _CODE, nullable=False),
    Column("batch_nbr", _NUMBER, nullable=False),
    Column("batch_rerun_nbr", _NUMBER, nullable=False),
    Column("batch_thread_nbr", _NUMBER, nullable=False),
    Column("thread_status", _STATUS),
    Column("thd_retry_cnt", _NUMBER),
    Index("ci_batch_thd_k", "batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_thread_nbr"),
)

# one row per execution of a thread (SCHEDULER_ID tells them apart): a restarted thread has two
ci_batch_inst = Table(
    "ci_batch_inst",
    metadata,
    Column("batch_cd", _CODE, nullable=False),
    Column("batch_nbr", _NUMBER, nullable=False),
    Column("batch_rerun_nbr", _NUMBER, nullable=False),
    Column("batch_thread_nbr", _NUMBER, nullable=False),
    Column("start_dttm", _TS),
    Column("end_dttm", _TS),
    Column("rec_proc_cnt", _NUMBER),
    Column("rec_err_cnt", _NUMBER),
    Column("scheduler_id", _NUMBER),
    Index("ci_batch_inst_k", "batch_cd", "batch_nbr", "batch_rerun_nbr", "batch_thread_nbr"),
    Index("ci_batch_inst_sched", "scheduler_id"),
)

# messages a thread execution logged, keyed by the execution's SCHEDULER_ID
ci_msg_log = Table(
    "ci_msg_log",
    metadata,
    Column("scheduler_id", _NUMBER, nullable=False),
    Column("message_seq_nbr", _NUMBER, nullable=False),
    Column("message_cat_nbr", _NUMBER, nullable=False),
    Column("message_nbr", _NUMBER, nullable=False),
    Column("cre_dttm", _TS),
    Index("ci_msg_log_k", "scheduler_id", "message_seq_nbr"),
)

# the substitution parameters of a message, in PARM_SEQ order
ci_msg_logparm = Table(
    "ci_msg_logparm",
    metadata,
    Column("scheduler_id", _NUMBER, nullable=False),
    Column("message_seq_nbr", _NUMBER, nullable=False),
    Column("parm_seq", _NUMBER, nullable=False),
    Column("message_parm", String(2000)),
    Index("ci_msg_logparm_k", "scheduler_id", "message_seq_nbr"),
)

# initial measurement data (MDM): D1-IMD turns PENDING rows into measurements
d1_init_msrmt_data = Table(
    "d1_init_msrmt_data",
    metadata,
    Column("init_msrmt_data_id", CHAR(14), nullable=False),
    Column("bus_obj_cd", CHAR(30)),
    Column("bo_status_cd", CHAR(12)),
    Column("cre_dttm", _TS),
    Column("status_upd_dttm", _TS),
    Index("d1_init_msrmt_data_status", "bo_status_cd"),
)

TABLES = (ci_batch_run, ci_batch_thd, ci_batch_inst, ci_msg_log, ci_msg_logparm, d1_init_msrmt_data)


def create_schema(engine: Engine) -> None:
    """Create the OUAF tables (and their indexes) where they do not exist yet."""
    metadata.create_all(engine, checkfirst=True)


def drop_schema(engine: Engine) -> None:
    """Drop the OUAF tables."""
    metadata.drop_all(engine, checkfirst=True)
