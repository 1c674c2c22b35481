#!/usr/bin/env bash
# Set up a Raspberry Pi (Raspberry Pi OS / Debian 12) as a Wardlink gateway.
#
# Idempotent: every step first looks at what is there and changes only what is missing, so
# running it again after an upgrade or a half-finished run is safe. With --dry-run it prints
# every action it would take (lines starting with "+") and changes nothing.
#
#   sudo ./setup-gateway.sh                 # set up, or bring up to date
#   ./setup-gateway.sh --dry-run            # show what would be done
#
# Afterwards: enroll the gateway with the token the hub gave for it, which writes
# /etc/wardlink/gateway.toml, its broker credentials and the broker CA (docs/deployment.md):
#   sudo /opt/wardlink/venv/bin/wardlink-edge enroll https://HUB TOKEN --owner wardlink
# then reboot if the script enabled a bus, or else: systemctl restart wardlink-edge
set -euo pipefail

DRY_RUN=0
VENV=/opt/wardlink/venv
PACKAGE='wardlink[edge]'
SERVICE_USER=wardlink
DATA_DIR=/var/lib/wardlink-edge
CONFIG_DIR=/etc/wardlink
CONFIG_FILE=$CONFIG_DIR/gateway.toml
BOOT_CONFIG=""
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT_SRC=$SCRIPT_DIR/../systemd/wardlink-edge.service
# The versions the release was tested with (provisioning/constraints.txt of a source tree).
CONSTRAINTS=$(dirname "$SCRIPT_DIR")/constraints.txt
[[ -f $CONSTRAINTS ]] || CONSTRAINTS=""
UNIT_DEST=/etc/systemd/system/wardlink-edge.service
JOURNALD_DROPIN=/etc/systemd/journald.conf.d/wardlink.conf
MODULES_FILE=/etc/modules-load.d/wardlink.conf
DEFAULT_VENV=/opt/wardlink/venv
# gpio/i2c: the GPIO and I2C character devices; dialout: serial ports; bluetooth: BlueZ.
SENSOR_GROUPS=(gpio i2c dialout bluetooth)
# Lines config.txt needs when raspi-config is not there to do it: the I2C bus, the 1-wire
# bus on GPIO4, and the UART on the header.
BOOT_LINES=("dtparam=i2c_arm=on" "dtoverlay=w1-gpio" "enable_uart=1")
REBOOT_NEEDED=0

usage() {
    cat <<EOF
Usage: $(basename "$0") [options]

Set up this machine as a Wardlink gateway (buses, service user, virtualenv, systemd unit).

Options:
  --dry-run             print every action without changing anything
  --venv DIR            virtualenv to install into (default: $DEFAULT_VENV)
  --package SPEC        what pip installs (default: $PACKAGE; a wheel path works too)
  --constraints FILE    pip constraints: the versions to install (default: provisioning/constraints.txt
                        beside this script, when there is one)
  --boot-config FILE    config.txt to edit when raspi-config is absent
                        (default: /boot/firmware/config.txt, else /boot/config.txt)
  --unit FILE           systemd unit to install (default: the one shipped beside this script)
  -h, --help            show this help
EOF
}

die() {
    printf 'setup-gateway: %s\n' "$*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --dry-run) DRY_RUN=1 ;;
        --venv) VENV=${2:?--venv needs a directory}; shift ;;
        --package) PACKAGE=${2:?--package needs a value}; shift ;;
        --constraints) CONSTRAINTS=${2:?--constraints needs a file}; shift ;;
        --boot-config) BOOT_CONFIG=${2:?--boot-config needs a file}; shift ;;
        --unit) UNIT_SRC=${2:?--unit needs a file}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

[[ $VENV == /* ]] || die "--venv must be an absolute path, got $VENV"
if [[ $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
    die "run as root (sudo), or with --dry-run to see what would be done"
fi
[[ -r $UNIT_SRC ]] || die "systemd unit not found: $UNIT_SRC (give it with --unit)"
[[ -z $CONSTRAINTS || -r $CONSTRAINTS ]] || die "constraints file not found: $CONSTRAINTS"

# ---------------------------------------------------------------- helpers

note() { printf '  ok: %s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# Run a command, or print it (shell-quoted) in a dry run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [[ $DRY_RUN -eq 0 ]]; then
        "$@"
    fi
}

# Append a line to a file unless the file already has exactly that line.
ensure_line() {
    local file=$1 line=$2
    if [[ -f $file ]] && grep -qxF -- "$line" "$file"; then
        note "$file has '$line'"
        return 1
    fi
    printf '+ append %q to %q\n' "$line" "$file"
    if [[ $DRY_RUN -eq 0 ]]; then
        printf '%s\n' "$line" >>"$file"
    fi
}

# Install stdin as a file with a mode, unless the file already has that content.
put_file() {
    local dest=$1 mode=$2 content
    content=$(cat)
    if [[ -f $dest ]] && [[ "$(cat "$dest")" == "$content" ]]; then
        note "$dest is up to date"
        return 1
    fi
    printf '+ write %q (mode %s):\n' "$dest" "$mode"
    printf '%s\n' "$content" | sed 's/^/    | /'
    if [[ $DRY_RUN -eq 0 ]]; then
        install -d -m 0755 "$(dirname "$dest")"
        printf '%s\n' "$content" | install -m "$mode" /dev/stdin "$dest"
    fi
}

ensure_dir() {
    local dir=$1 mode=$2 owner=$3 group=$4
    if [[ -d $dir ]] && [[ "$(stat -c '%a %U %G' "$dir")" == "${mode#0} $owner $group" ]]; then
        note "$dir exists ($mode $owner:$group)"
        return
    fi
    run install -d -m "$mode" -o "$owner" -g "$group" "$dir"
}

# ---------------------------------------------------------------- steps

enable_buses() {
    step "Buses: I2C, 1-wire, serial"
    if command -v raspi-config >/dev/null 2>&1; then
        # nonint: 0 = enable. do_serial_hw 0 turns the UART on, do_serial_cons 1 takes the
        # login console off it so a serial sensor owns the port. Each call is idempotent.
        run raspi-config nonint do_i2c 0
        run raspi-config nonint do_onewire 0
        run raspi-config nonint do_serial_hw 0
        run raspi-config nonint do_serial_cons 1
        REBOOT_NEEDED=1
        return
    fi
    local file=$BOOT_CONFIG
    if [[ -z $file ]]; then
        if [[ -f /boot/firmware/config.txt ]]; then file=/boot/firmware/config.txt; else file=/boot/config.txt; fi
    fi
    note "raspi-config not found; editing $file"
    local line
    for line in "${BOOT_LINES[@]}"; do
        if ensure_line "$file" "$line"; then REBOOT_NEEDED=1; fi
    done
    printf 'i2c-dev\n' | put_file "$MODULES_FILE" 0644 || true
}

create_user() {
    step "Service user $SERVICE_USER"
    local group
    for group in "${SENSOR_GROUPS[@]}"; do
        if getent group "$group" >/dev/null; then
            note "group $group exists"
        else
            run groupadd --system "$group"
        fi
    done
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        note "user $SERVICE_USER exists"
    else
        run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "Wardlink gateway" "$SERVICE_USER"
    fi
    local missing=()
    for group in "${SENSOR_GROUPS[@]}"; do
        if id -nG "$SERVICE_USER" 2>/dev/null | tr ' ' '\n' | grep -qxF -- "$group"; then
            continue
        fi
        missing+=("$group")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        note "$SERVICE_USER is in ${SENSOR_GROUPS[*]}"
    else
        run usermod --append --groups "$(IFS=,; echo "${missing[*]}")" "$SERVICE_USER"
    fi
}

install_software() {
    step "Virtualenv $VENV with $PACKAGE"
    if dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'install ok installed'; then
        note "python3-venv is installed"
    else
        run apt-get install -y --no-install-recommends python3-venv
    fi
    if [[ -x $VENV/bin/python ]]; then
        note "virtualenv $VENV exists"
    else
        # System site packages: Raspberry Pi OS ships the GPIO backend (python3-lgpio) built
        # for the board; pip would have to compile it.
        run python3 -m venv --system-site-packages "$VENV"
    fi
    # pip decides itself whether anything is newer; this is also the upgrade path.
    if [[ -n $CONSTRAINTS ]]; then
        run "$VENV/bin/pip" install --upgrade --upgrade-strategy only-if-needed -c "$CONSTRAINTS" "$PACKAGE"
    else
        run "$VENV/bin/pip" install --upgrade --upgrade-strategy only-if-needed "$PACKAGE"
    fi
}

make_directories() {
    step "Directories"
    ensure_dir "$DATA_DIR" 0750 "$SERVICE_USER" "$SERVICE_USER"
    # Root owns the settings; the service can read them (and its 0600 credentials file,
    # which the administrator gives to the service user).
    ensure_dir "$CONFIG_DIR" 0750 root "$SERVICE_USER"
}

limit_logs() {
    step "Log rotation (journald)"
    # The gateway logs to the journal. On an SD card the journal must stay small and rotate:
    # cap its size and age instead of letting it grow into the buffer's disk space.
    if put_file "$JOURNALD_DROPIN" 0644 <<'EOF'; then
# Written by Wardlink's setup-gateway.sh: keep the journal small on the SD card.
[Journal]
SystemMaxUse=200M
SystemMaxFileSize=20M
MaxRetentionSec=1month
EOF
        run systemctl restart systemd-journald
    fi
}

install_unit() {
    step "systemd unit"
    if sed "s#$DEFAULT_VENV#$VENV#g" "$UNIT_SRC" | put_file "$UNIT_DEST" 0644; then
        run systemctl daemon-reload
    fi
    if systemctl is-enabled --quiet wardlink-edge.service 2>/dev/null; then
        note "wardlink-edge.service is enabled"
    else
        run systemctl enable wardlink-edge.service
    fi
    if [[ -f $CONFIG_FILE ]]; then
        run systemctl restart wardlink-edge.service
    else
        note "no $CONFIG_FILE yet: enroll the gateway ($VENV/bin/wardlink-edge enroll https://HUB TOKEN --owner $SERVICE_USER), then run: systemctl start wardlink-edge"
    fi
}

[[ $DRY_RUN -eq 1 ]] && printf 'Dry run: nothing will be changed.\n'
enable_buses
create_user
install_software
make_directories
limit_logs
install_unit
if [[ $REBOOT_NEEDED -eq 1 ]]; then
    printf '\nA bus was enabled: reboot for it to appear (sudo reboot).\n'
fi
printf '\nDone.\n'
