"""Medical gas cylinders (``oxygen_cylinders``), the places they are stored in
(``gas_storage_areas``: smoke compartments and storage rooms) and the append-only log of their
movements (``oxygen_movements``).

The log refuses UPDATE and DELETE in the database as well as in the ORM: a wrong movement is
followed by the movement that puts things right, never rewritten.

Revision ID: 0044_oxygen
Revises: 0043_directory_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0044_oxygen'
down_revision = '0043_directory_users'
branch_labels = None
depends_on = None

_SQLITE_GUARDS = {"oxygen_movements_no_update": "UPDATE", "oxygen_movements_no_delete": "DELETE"}
_STATUSES = "'filled', 'in_use', 'empty', 'in_transit', 'quarantined'"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        'gas_storage_areas',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('smoke_compartment', 'storage_room')",
                           name=op.f('ck_gas_storage_areas_kind_choice')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                                name=op.f('fk_gas_storage_areas_department_id_departments'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_gas_storage_areas')),
        sa.UniqueConstraint('code', name=op.f('uq_gas_storage_areas_code')),
    )
    op.create_table(
        'oxygen_cylinders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=40), nullable=False),
        sa.Column('gas', sa.String(length=32), nullable=False),
        sa.Column('size', sa.String(length=16), nullable=False),
        sa.Column('capacity_l', sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('storage_area_id', sa.Integer(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("gas IN ('oxygen', 'medical_air', 'nitrous_oxide', 'carbon_dioxide', 'nitrogen', "
                           "'heliox')", name=op.f('ck_oxygen_cylinders_gas_choice')),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name=op.f('ck_oxygen_cylinders_status_choice')),
        sa.CheckConstraint('capacity_l > 0', name=op.f('ck_oxygen_cylinders_capacity_positive')),
        sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                                name=op.f('fk_oxygen_cylinders_department_id_departments'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['storage_area_id'], ['gas_storage_areas.id'],
                                name=op.f('fk_oxygen_cylinders_storage_area_id_gas_storage_areas'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oxygen_cylinders')),
        sa.UniqueConstraint('tag', name=op.f('uq_oxygen_cylinders_tag')),
    )
    op.create_index('ix_oxygen_cylinders_department_id_status', 'oxygen_cylinders', ['department_id', 'status'],
                    unique=False)
    op.create_index('ix_oxygen_cylinders_storage_area_id', 'oxygen_cylinders', ['storage_area_id'], unique=False)
    op.create_table(
        'oxygen_movements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cylinder_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status_before', sa.String(length=16), nullable=False),
        sa.Column('status_after', sa.String(length=16), nullable=False),
        sa.Column('from_department_id', sa.Integer(), nullable=True),
        sa.Column('from_area_id', sa.Integer(), nullable=True),
        sa.Column('to_department_id', sa.Integer(), nullable=True),
        sa.Column('to_area_id', sa.Integer(), nullable=True),
        sa.Column('volume_l', sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column('moved_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('local_day', sa.Date(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.CheckConstraint("kind IN ('filled_in', 'empty_out', 'transfer', 'in_use', 'quarantine')",
                           name=op.f('ck_oxygen_movements_kind_choice')),
        sa.CheckConstraint(f"status_before IN ({_STATUSES})", name=op.f('ck_oxygen_movements_status_before_choice')),
        sa.CheckConstraint(f"status_after IN ({_STATUSES})", name=op.f('ck_oxygen_movements_status_after_choice')),
        sa.CheckConstraint('volume_l > 0', name=op.f('ck_oxygen_movements_volume_positive')),
        sa.ForeignKeyConstraint(['cylinder_id'], ['oxygen_cylinders.id'],
                                name=op.f('fk_oxygen_movements_cylinder_id_oxygen_cylinders'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['from_department_id'], ['departments.id'],
                                name=op.f('fk_oxygen_movements_from_department_id_departments'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['from_area_id'], ['gas_storage_areas.id'],
                                name=op.f('fk_oxygen_movements_from_area_id_gas_storage_areas'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['to_department_id'], ['departments.id'],
                                name=op.f('fk_oxygen_movements_to_department_id_departments'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['to_area_id'], ['gas_storage_areas.id'],
                                name=op.f('fk_oxygen_movements_to_area_id_gas_storage_areas'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_oxygen_movements_user_id_users'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_oxygen_movements')),
    )
    op.create_index('ix_oxygen_movements_cylinder_id_id', 'oxygen_movements', ['cylinder_id', 'id'], unique=False)
    op.create_index('ix_oxygen_movements_kind_local_day', 'oxygen_movements', ['kind', 'local_day'], unique=False)
    _log_guard()


def _log_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION wardlink_oxygen_log_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'oxygen_movements is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER oxygen_movements_append_only BEFORE UPDATE OR DELETE ON oxygen_movements "
            "FOR EACH ROW EXECUTE FUNCTION wardlink_oxygen_log_append_only()"
        )
        return
    for name, event in _SQLITE_GUARDS.items():
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON oxygen_movements "
                   "BEGIN SELECT RAISE(ABORT, 'oxygen_movements is append-only'); END")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS oxygen_movements_append_only ON oxygen_movements")
        op.execute("DROP FUNCTION IF EXISTS wardlink_oxygen_log_append_only()")
    else:
        for name in _SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_oxygen_movements_kind_local_day', table_name='oxygen_movements')
    op.drop_index('ix_oxygen_movements_cylinder_id_id', table_name='oxygen_movements')
    op.drop_table('oxygen_movements')
    op.drop_index('ix_oxygen_cylinders_storage_area_id', table_name='oxygen_cylinders')
    op.drop_index('ix_oxygen_cylinders_department_id_status', table_name='oxygen_cylinders')
    op.drop_table('oxygen_cylinders')
    op.drop_table('gas_storage_areas')
