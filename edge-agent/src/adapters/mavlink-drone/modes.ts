/**
 * Flight-mode names from HEARTBEAT.custom_mode, per autopilot (MAV_AUTOPILOT) and vehicle type
 * (MAV_TYPE): ArduPilot numbers its modes per vehicle; PX4 packs a main and a sub mode into the
 * custom mode (main << 16 | sub << 24). Numbers from the ArduPilot and PX4 sources; a mode not in a
 * table is shown as `MODE_<n>`.
 */
const ARDUCOPTER: Record<number, string> = {
  0: 'STABILIZE',
  1: 'ACRO',
  2: 'ALT_HOLD',
  3: 'AUTO',
  4: 'GUIDED',
  5: 'LOITER',
  6: 'RTL',
  7: 'CIRCLE',
  9: 'LAND',
  11: 'DRIFT',
  13: 'SPORT',
  14: 'FLIP',
  15: 'AUTOTUNE',
  16: 'POSHOLD',
  17: 'BRAKE',
  18: 'THROW',
  19: 'AVOID_ADSB',
  20: 'GUIDED_NOGPS',
  21: 'SMART_RTL',
  22: 'FLOWHOLD',
  23: 'FOLLOW',
  24: 'ZIGZAG',
  25: 'SYSTEMID',
  26: 'AUTOROTATE',
  27: 'AUTO_RTL',
};
const ARDUSUB: Record<number, string> = {
  0: 'STABILIZE',
  1: 'ACRO',
  2: 'ALT_HOLD',
  3: 'AUTO',
  4: 'GUIDED',
  7: 'CIRCLE',
  9: 'SURFACE',
  16: 'POSHOLD',
  19: 'MANUAL',
  20: 'MOTOR_DETECT',
  21: 'SURFTRAK',
};
const ARDUPLANE: Record<number, string> = {
  0: 'MANUAL',
  1: 'CIRCLE',
  2: 'STABILIZE',
  3: 'TRAINING',
  4: 'ACRO',
  5: 'FBWA',
  6: 'FBWB',
  7: 'CRUISE',
  8: 'AUTOTUNE',
  10: 'AUTO',
  11: 'RTL',
  12: 'LOITER',
  13: 'TAKEOFF',
  15: 'GUIDED',
  17: 'QSTABILIZE',
  18: 'QHOVER',
  19: 'QLOITER',
  20: 'QLAND',
  21: 'QRTL',
};
const PX4_MAIN: Record<number, string> = {
  1: 'MANUAL',
  2: 'ALTCTL',
  3: 'POSCTL',
  4: 'AUTO',
  5: 'ACRO',
  6: 'OFFBOARD',
  7: 'STABILIZED',
  8: 'RATTITUDE',
};
const PX4_AUTO: Record<number, string> = {
  1: 'READY',
  2: 'TAKEOFF',
  3: 'LOITER',
  4: 'MISSION',
  5: 'RTL',
  6: 'LAND',
  8: 'FOLLOW_TARGET',
  9: 'PRECLAND',
};

const MAV_AUTOPILOT_ARDUPILOTMEGA = 3;
const MAV_AUTOPILOT_PX4 = 12;
const SUBMARINE = 12;
const PLANES = new Set([1, 19, 20, 21, 22, 23, 24, 25]); // fixed wing and VTOLs

function arduTable(vehicleType: number): Record<number, string> {
  if (vehicleType === SUBMARINE) return ARDUSUB;
  if (PLANES.has(vehicleType)) return ARDUPLANE;
  return ARDUCOPTER;
}

export function modeName(autopilot: number, vehicleType: number, customMode: number): string {
  if (autopilot === MAV_AUTOPILOT_PX4) {
    const main = (customMode >> 16) & 0xff;
    const sub = (customMode >>> 24) & 0xff;
    const name = PX4_MAIN[main];
    if (!name) return `MODE_${customMode}`;
    return main === 4 && PX4_AUTO[sub] ? `AUTO.${PX4_AUTO[sub]}` : name;
  }
  if (autopilot === MAV_AUTOPILOT_ARDUPILOTMEGA)
    return arduTable(vehicleType)[customMode] ?? `MODE_${customMode}`;
  return `MODE_${customMode}`;
}

/** The custom mode for a name, for MAV_CMD_DO_SET_MODE: `[custom, subMode]`, or undefined. */
export function modeNumber(
  autopilot: number,
  vehicleType: number,
  name: string,
): [number, number] | undefined {
  if (autopilot === MAV_AUTOPILOT_PX4) {
    const [main, sub] = name.split('.');
    const mainNo = Number(Object.entries(PX4_MAIN).find(([, n]) => n === main)?.[0]);
    if (!Number.isInteger(mainNo)) return undefined;
    if (!sub) return [mainNo, 0];
    const subNo = Number(Object.entries(PX4_AUTO).find(([, n]) => n === sub)?.[0]);
    return Number.isInteger(subNo) ? [mainNo, subNo] : undefined;
  }
  const table = arduTable(vehicleType);
  const entry = Object.entries(table).find(([, n]) => n === name);
  return entry ? [Number(entry[0]), 0] : undefined;
}

/** The mode that holds position, per autopilot: what `drone.hold` switches to. */
export function holdMode(autopilot: number, vehicleType: number): string {
  if (autopilot === MAV_AUTOPILOT_PX4) return 'AUTO.LOITER';
  if (PLANES.has(vehicleType)) return 'LOITER';
  return vehicleType === SUBMARINE ? 'POSHOLD' : 'LOITER';
}
