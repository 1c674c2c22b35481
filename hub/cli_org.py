"""``wardlink site``, ``wardlink department`` and ``wardlink location``: the organisation from the
command line (rules in :mod:`wardlink.hub.services.people.org_admin`).

A site is named by its id, code or name; a department by its id, its code (``SITE/CODE`` when
several sites use it) or name; a location by its id. Lists print ids first.
"""

from __future__ import annotations

from typing import Any

from wardlink.cli import add_command, add_group
from wardlink.hub.cli_common import db_session as _session


def _given(args, *names: str) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _table(header: tuple[str, ...], rows: list[tuple]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple("-" if c in (None, "") else str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


# ------------------------------------------------------------------ sites


def cmd_site_add(args) -> int:
    """Add a site."""
    from wardlink.hub.services.people import org_admin

    with _session(args) as s:
        site = org_admin.create_site(s, {"name": args.name, **_given(args, "code", "timezone")}, actor=None)
        message = f"site {site.id} added: {site.code} '{site.name}' ({site.timezone})"
    print(message)
    return 0


def cmd_site_list(args) -> int:
    """List the sites."""
    from wardlink.hub.services.people import org_lookup

    with _session(args, readonly=True) as s:
        _table(("ID", "CODE", "NAME", "TIME ZONE"),
               [(x.id, x.code, x.name, x.timezone) for x in org_lookup.visible_sites(s, actor=None)])
    return 0


def cmd_site_update(args) -> int:
    """Change a site."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        site = org_admin.update_site(s, org_lookup.find_site(s, args.site).id,
                                     _given(args, "name", "code", "timezone"), actor=None)
        message = f"site {site.id}: {site.code} '{site.name}' ({site.timezone})"
    print(message)
    return 0


def cmd_site_delete(args) -> int:
    """Delete an unused site."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        site = org_lookup.find_site(s, args.site)
        name = site.name
        org_admin.delete_site(s, site.id, actor=None)
    print(f"site '{name}' deleted")
    return 0


# ------------------------------------------------------------------ departments


def cmd_department_add(args) -> int:
    """Add a department to a site."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        site = org_lookup.find_site(s, args.site)
        dept = org_admin.create_department(s, site.id, {"name": args.name, **_given(args, "code")}, actor=None)
        message = f"department {dept.id} added: {dept.code} '{dept.name}' at {site.code}"
    print(message)
    return 0


def cmd_department_list(args) -> int:
    """List the departments."""
    from wardlink.hub.services.people import org_lookup

    with _session(args, readonly=True) as s:
        site_id = org_lookup.find_site(s, args.site).id if args.site else None
        _table(("ID", "SITE", "CODE", "NAME"), [(d.id, d.site.code, d.code, d.name) for d in
                                                org_lookup.visible_departments(s, actor=None, site_id=site_id)])
    return 0


def cmd_department_update(args) -> int:
    """Rename a department or change its code."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        dept = org_admin.update_department(s, org_lookup.find_department(s, args.department).id,
                                           _given(args, "name", "code"), actor=None)
        message = f"department {dept.id}: {dept.code} '{dept.name}' at {dept.site.code}"
    print(message)
    return 0


def cmd_department_delete(args) -> int:
    """Delete an unused department."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        dept = org_lookup.find_department(s, args.department)
        name = dept.name
        org_admin.delete_department(s, dept.id, actor=None)
    print(f"department '{name}' deleted")
    return 0


# ------------------------------------------------------------------ locations


def _location_fields(args, s) -> dict[str, Any]:
    from wardlink.hub.services.people import org_lookup

    fields = _given(args, "building", "floor", "room")
    if args.department is not None:
        fields["department_id"] = org_lookup.find_department(s, args.department).id if args.department else None
    return fields


def cmd_location_add(args) -> int:
    """Add a location to a site."""
    from wardlink.hub.services.people import org_admin, org_lookup

    with _session(args) as s:
        site = org_lookup.find_site(s, args.site)
        loc = org_admin.create_location(s, site.id, _location_fields(args, s), actor=None)
        message = f"location {loc.id} added: {loc.label} at {site.code}"
    print(message)
    return 0


def cmd_location_list(args) -> int:
    """List the locations."""
    from wardlink.hub.services.people import org_lookup

    with _session(args, readonly=True) as s:
        site_id = org_lookup.find_site(s, args.site).id if args.site else None
        _table(("ID", "SITE", "DEPARTMENT", "BUILDING", "FLOOR", "ROOM"),
               [(x.id, x.site.code, x.department.code if x.department else "", x.building, x.floor, x.room)
                for x in org_lookup.visible_locations(s, actor=None, site_id=site_id)])
    return 0


def cmd_location_update(args) -> int:
    """Change a location."""
    from wardlink.hub.services.people import org_admin

    with _session(args) as s:
        loc = org_admin.update_location(s, args.location, _location_fields(args, s), actor=None)
        message = f"location {loc.id}: {loc.label} at {loc.site.code}"
    print(message)
    return 0


def cmd_location_delete(args) -> int:
    """Delete an unused location."""
    from wardlink.hub.services.people import org_admin

    with _session(args) as s:
        org_admin.delete_location(s, args.location, actor=None)
    print(f"location {args.location} deleted")
    return 0


# ------------------------------------------------------------------ parsers


def _add_sites(sub) -> None:
    group = add_group(sub, "site", "sites (hospitals): add, list, change, delete",
                      "Manage sites. A site is named by its id, code or name.")
    p = add_command(group, "add", cmd_site_add, "add a site", "Add a site (hospital or campus); audited.")
    p.add_argument("name", help="the site's name, e.g. 'Royal General Hospital'")
    p.add_argument("--code", help="short code (default: made from the name)")
    p.add_argument("--timezone", metavar="ZONE", help="IANA time zone, e.g. Europe/London (default: the server's)")
    add_command(group, "list", cmd_site_list, "list the sites with their ids", "List every site.")
    p = add_command(group, "update", cmd_site_update, "rename a site, change its code or time zone",
                    "Change a site's name, code or time zone; audited.")
    p.add_argument("site", help="id, code or name of the site")
    p.add_argument("--name", help="new name")
    p.add_argument("--code", help="new code")
    p.add_argument("--timezone", metavar="ZONE", help="new IANA time zone")
    p = add_command(group, "delete", cmd_site_delete, "delete a site nothing uses",
                    "Delete a site without departments or locations; audited.")
    p.add_argument("site", help="id, code or name of the site")


def _add_departments(sub) -> None:
    group = add_group(sub, "department", "departments (wards): add, list, change, delete",
                      "Manage departments. A department is named by its id, its code (SITE/CODE when "
                      "several sites use the code) or its name.")
    p = add_command(group, "add", cmd_department_add, "add a department to a site",
                    "Add a department (ward or service) to a site; audited.")
    p.add_argument("name", help="the department's name, e.g. 'Intensive care'")
    p.add_argument("--site", required=True, help="id, code or name of its site")
    p.add_argument("--code", help="short code gateways and imports use, e.g. ICU (default: made from the name)")
    p = add_command(group, "list", cmd_department_list, "list the departments with their ids",
                    "List every department.")
    p.add_argument("--site", help="only this site's (id, code or name)")
    p = add_command(group, "update", cmd_department_update, "rename a department or change its code",
                    "Change a department's name or code; audited.")
    p.add_argument("department", help="id, code or name of the department")
    p.add_argument("--name", help="new name")
    p.add_argument("--code", help="new code")
    p = add_command(group, "delete", cmd_department_delete, "delete a department nothing uses",
                    "Delete a department no asset, user, gateway, location or work order refers to; audited.")
    p.add_argument("department", help="id, code or name of the department")


def _add_locations(sub) -> None:
    group = add_group(sub, "location", "locations (building, floor, room): add, list, change, delete",
                      "Manage the locations of a site. A location is named by its id.")
    p = add_command(group, "add", cmd_location_add, "add a location to a site",
                    "Add a location (building, floor, room) to a site, optionally of a department; audited.")
    p.add_argument("--site", required=True, help="id, code or name of its site")
    p.add_argument("--building", required=True, help="building, e.g. 'Main block'")
    p.add_argument("--floor", help="floor, e.g. 2")
    p.add_argument("--room", help="room, e.g. 'Bay 4'")
    p.add_argument("--department", help="department it belongs to (id, code or name)")
    p = add_command(group, "list", cmd_location_list, "list the locations with their ids",
                    "List every location.")
    p.add_argument("--site", help="only this site's (id, code or name)")
    p = add_command(group, "update", cmd_location_update, "change a location",
                    "Change a location's building, floor, room or department ('' for none); audited.")
    p.add_argument("location", type=int, help="id of the location")
    p.add_argument("--building", help="new building")
    p.add_argument("--floor", help="new floor")
    p.add_argument("--room", help="new room")
    p.add_argument("--department", help="new department (id, code or name; '' for none)")
    p = add_command(group, "delete", cmd_location_delete, "delete a location nothing uses",
                    "Delete a location no asset or gateway refers to; audited.")
    p.add_argument("location", type=int, help="id of the location")


def add_org_commands(sub) -> None:
    """Add the ``site``, ``department`` and ``location`` command groups."""
    _add_sites(sub)
    _add_departments(sub)
    _add_locations(sub)
