/** Every UI string, in one table. Simplified Chinese by default; English on request (saved per browser). */
const STRINGS = {
  appTitle: { zh: '千里眼 · 指挥调度台', en: 'Qianliyan · Command Dashboard' },
  loginTitle: { zh: '值班人员登录', en: 'Duty officer sign-in' },
  username: { zh: '用户名', en: 'Username' },
  password: { zh: '密码', en: 'Password' },
  signIn: { zh: '登录', en: 'Sign in' },
  signOut: { zh: '退出', en: 'Sign out' },
  loginFailed: { zh: '用户名或密码错误', en: 'Wrong username or password' },
  networkError: { zh: '无法连接指挥中心服务器', en: 'Cannot reach the hub' },
  language: { zh: 'English', en: '中文' },
  gateways: { zh: '村级网关', en: 'Gateways' },
  sitesTree: { zh: '辖区', en: 'Areas' },
  mapItems: { zh: '地图上的设备和聚合', en: 'Devices and clusters on the map' },
  searchDevices: { zh: '搜索名称、编号、类型、村', en: 'Search name, id, kind, village' },
  filterKind: { zh: '按类型筛选', en: 'Filter by kind' },
  filterStatus: { zh: '按状态筛选', en: 'Filter by status' },
  filterVillage: { zh: '按村筛选', en: 'Filter by village' },
  allKinds: { zh: '全部类型', en: 'All kinds' },
  allStatuses: { zh: '全部状态', en: 'All statuses' },
  allVillages: { zh: '全部村', en: 'All villages' },
  value_AUTO: { zh: '自动 (AUTO)', en: 'Auto' },
  value_RTL: { zh: '返航 (RTL)', en: 'Return to launch' },
  value_LOITER: { zh: '悬停 (LOITER)', en: 'Loiter' },
  value_LAND: { zh: '降落 (LAND)', en: 'Land' },
  value_GUIDED: { zh: '引导 (GUIDED)', en: 'Guided' },
  value_STABILIZE: { zh: '自稳 (STABILIZE)', en: 'Stabilize' },
  value_patrol: { zh: '巡逻', en: 'Patrol' },
  value_idle: { zh: '空闲', en: 'Idle' },
  devices: { zh: '设备', en: 'Devices' },
  online: { zh: '在线', en: 'Online' },
  offline: { zh: '离线', en: 'Offline' },
  stale: { zh: '通信中断?', en: 'Silent?' },
  alarm: { zh: '告警', en: 'Alarm' },
  lastSeen: { zh: '最后通信', en: 'Last seen' },
  outboxDepth: { zh: '待发消息', en: 'Outbox' },
  never: { zh: '从未', en: 'never' },
  secondsAgo: { zh: '{n} 秒前', en: '{n}s ago' },
  minutesAgo: { zh: '{n} 分钟前', en: '{n}m ago' },
  hoursAgo: { zh: '{n} 小时前', en: '{n}h ago' },
  latestValues: { zh: '最新数据', en: 'Latest values' },
  history: { zh: '近一小时', en: 'Last hour' },
  noData: { zh: '暂无数据', en: 'No data yet' },
  close: { zh: '关闭', en: 'Close' },
  kind_camera: { zh: '摄像头', en: 'Camera' },
  kind_speaker: { zh: '大喇叭', en: 'Loudspeaker' },
  kind_drone: { zh: '无人机', en: 'Drone' },
  kind_sensor: { zh: '传感器', en: 'Sensor' },
  live: { zh: '实时', en: 'Live' },
  behind: { zh: '数据滞后', en: 'Behind' },
  disconnected: { zh: '连接中断，正在重连…', en: 'Connection lost, reconnecting…' },
  lastEvent: { zh: '最近事件', en: 'Last event' },
  model: { zh: '型号', en: 'Model' },
  position: { zh: '位置', en: 'Position' },
  field_temperature: { zh: '温度 (°C)', en: 'Temperature (°C)' },
  field_humidity: { zh: '湿度 (%)', en: 'Humidity (%)' },
  field_pm25: { zh: 'PM2.5 (µg/m³)', en: 'PM2.5 (µg/m³)' },
  field_water_level: { zh: '水位 (m)', en: 'Water level (m)' },
  field_battery: { zh: '电量 (%)', en: 'Battery (%)' },
  field_alt: { zh: '高度 (m)', en: 'Altitude (m)' },
  field_speed: { zh: '速度 (m/s)', en: 'Speed (m/s)' },
  field_heading: { zh: '航向 (°)', en: 'Heading (°)' },
  field_lat: { zh: '纬度', en: 'Latitude' },
  field_lon: { zh: '经度', en: 'Longitude' },
  field_mode: { zh: '模式', en: 'Mode' },
  field_volume: { zh: '音量', en: 'Volume' },
  field_playing: { zh: '播放中', en: 'Playing' },
  field_bitrate_kbps: { zh: '码率 (kbps)', en: 'Bitrate (kbps)' },
  field_recording: { zh: '录像中', en: 'Recording' },
  field_pan: { zh: '水平角 (°)', en: 'Pan (°)' },
  field_tilt: { zh: '俯仰角 (°)', en: 'Tilt (°)' },
  field_zoom: { zh: '变倍 (×)', en: 'Zoom (×)' },
  legend: { zh: '图例', en: 'Legend' },
  fieldOfView: { zh: '摄像头视野', en: 'Camera field of view' },
  droneTrack: { zh: '无人机航迹', en: 'Drone track' },
  'event_water_level.high': { zh: '水位超警戒', en: 'Water level high' },
  'event_water_level.normal': { zh: '水位恢复正常', en: 'Water level normal' },
  event_motion: { zh: '移动侦测', en: 'Motion detected' },
  'event_battery.low': { zh: '电量低', en: 'Battery low' },
  commands: { zh: '控制', en: 'Commands' },
  ptzLeft: { zh: '◀ 左转', en: '◀ Left' },
  ptzRight: { zh: '右转 ▶', en: 'Right ▶' },
  ptzUp: { zh: '▲ 上仰', en: '▲ Up' },
  ptzDown: { zh: '▼ 下俯', en: '▼ Down' },
  ptzZoomIn: { zh: '放大 +', en: 'Zoom +' },
  ptzZoomOut: { zh: '缩小 −', en: 'Zoom −' },
  ptzStop: { zh: '停止', en: 'Stop' },
  ptzHome: { zh: '回到预置位', en: 'Home preset' },
  droneRtl: { zh: '返航', en: 'Return home' },
  droneHold: { zh: '悬停', en: 'Hold' },
  droneLand: { zh: '降落', en: 'Land' },
  volumeDown: { zh: '音量 40%', en: 'Volume 40%' },
  volumeUp: { zh: '音量 85%', en: 'Volume 85%' },
  confirmHarm: { zh: '确认执行「{action}」？', en: 'Really send “{action}”?' },
  confirm: { zh: '确认', en: 'Confirm' },
  cancel: { zh: '取消', en: 'Cancel' },
  cmdSent: { zh: '已发送：{action}…', en: 'Sent: {action}…' },
  cmdOk: { zh: '执行成功（{ms} 毫秒）', en: 'Done ({ms} ms)' },
  cmdFailed: { zh: '执行失败：{message}', en: 'Failed: {message}' },
  cmdTimeout: { zh: '超时：设备未在时限内应答', en: 'Timed out: no answer from the device' },
  cmdRefused: { zh: '未发送：{message}', en: 'Not sent: {message}' },
  unreachable: { zh: '网关无法连接该设备', en: 'The gateway cannot reach this device' },
  linkLost: { zh: '失联', en: 'link lost' },
  droneRoute: { zh: '无人机计划航线', en: 'Drone route' },
  droneGoto: { zh: '指点飞行', en: 'Fly to…' },
  pickPoint: { zh: '在地图上点击目标位置（Esc 取消）', en: 'Click the destination on the map (Esc cancels)' },
  gotoConfirm: { zh: '飞往 {lat}, {lon}，高度', en: 'Fly to {lat}, {lon} at' },
  metres: { zh: '米', en: 'm' },
  droneMode: { zh: '切换模式', en: 'Set mode' },
  modeConfirm: { zh: '切换到模式 {mode}？', en: 'Switch to mode {mode}?' },
  replay: { zh: '航迹回放', en: 'Flight replay' },
  replayLast10m: { zh: '最近10分钟', en: 'Last 10 min' },
  replayLast1h: { zh: '最近1小时', en: 'Last hour' },
  replayLast6h: { zh: '最近6小时', en: 'Last 6 hours' },
  replayLoad: { zh: '载入', en: 'Load' },
  replayPlay: { zh: '播放', en: 'Play' },
  replayPause: { zh: '暂停', en: 'Pause' },
  replayNoData: { zh: '该时段没有航迹', en: 'No track in this period' },
  replayPoints: { zh: '{n} 个航迹点', en: '{n} track points' },
  replayClose: { zh: '结束回放', en: 'End replay' },
  field_armed: { zh: '已解锁', en: 'Armed' },
  field_gps_fix: { zh: 'GPS 定位', en: 'GPS fix' },
  field_satellites: { zh: '卫星数', en: 'Satellites' },
  field_link_quality: { zh: '链路质量 (%)', en: 'Link quality (%)' },
  field_link_lost: { zh: '链路中断', en: 'Link lost' },
  field_link_errors: { zh: '链路错误帧', en: 'Link frame errors' },
  field_distance_m: { zh: '航程 (m)', en: 'Distance (m)' },
  field_climb: { zh: '升降速度 (m/s)', en: 'Climb (m/s)' },
  field_voltage: { zh: '电压 (V)', en: 'Voltage (V)' },
  'event_link.lost': { zh: '无人机失联', en: 'Drone link lost' },
  'event_link.restored': { zh: '无人机链路恢复', en: 'Drone link restored' },
  'event_geofence.exit': { zh: '飞出电子围栏', en: 'Left the geofence' },
  'event_geofence.enter': { zh: '回到电子围栏内', en: 'Back inside the geofence' },
  'event_mode.changed': { zh: '飞行模式变更', en: 'Flight mode changed' },
  event_armed: { zh: '已解锁', en: 'Armed' },
  event_disarmed: { zh: '已上锁', en: 'Disarmed' },
  event_statustext: { zh: '飞控消息', en: 'Autopilot message' },
  'event_battery.critical': { zh: '电量严重不足', en: 'Battery critical' },
  event_tamper: { zh: '遮挡/破坏', en: 'Tampering' },
  event_line_crossing: { zh: '越线', en: 'Line crossed' },
  event_intrusion: { zh: '区域入侵', en: 'Intrusion' },
  videoWall: { zh: '视频墙', en: 'Video wall' },
  clearWall: { zh: '清空', en: 'Clear' },
  modeMap: { zh: '地图', en: 'Map' },
  modeSplit: { zh: '分屏', en: 'Split' },
  modeWall: { zh: '视频墙', en: 'Wall' },
  modeHistory: { zh: '历史曲线', en: 'History' },
  modeBroadcast: { zh: '广播', en: 'Broadcast' },
  broadcastTitle: { zh: '应急广播', en: 'Loudspeaker broadcast' },
  broadcastBox: { zh: '框选', en: 'Draw a box' },
  broadcastBySite: { zh: '按村选择…', en: 'By village…' },
  broadcastByZone: { zh: '按分区选择…', en: 'By zone…' },
  broadcastAll: { zh: '全部', en: 'All' },
  broadcastClear: { zh: '清空', en: 'Clear' },
  broadcastText: { zh: '文字转语音', en: 'Text to speech' },
  broadcastClip: { zh: '音频文件', en: 'Audio clip' },
  broadcastTalk: { zh: '实时喊话', en: 'Live talk' },
  broadcastTextHint: { zh: '输入要播报的内容', en: 'Type what the speakers should say' },
  broadcastUpload: { zh: '上传音频', en: 'Upload audio' },
  broadcastUploading: { zh: '上传中…', en: 'Uploading…' },
  broadcastUploaded: { zh: '音频已上传', en: 'Clip uploaded' },
  broadcastHold: { zh: '按住说话', en: 'Hold to talk' },
  broadcastTalking: { zh: '正在喊话…松开结束', en: 'Talking… release to stop' },
  broadcastPriority: { zh: '优先级', en: 'Priority' },
  priority_routine: { zh: '日常', en: 'Routine' },
  priority_notice: { zh: '通知', en: 'Notice' },
  priority_warning: { zh: '预警', en: 'Warning' },
  priority_emergency: { zh: '紧急', en: 'Emergency' },
  broadcastRepeat: { zh: '次数', en: 'Repeat' },
  broadcastAt: { zh: '定时', en: 'At' },
  broadcastDaily: { zh: '每天', en: 'Daily' },
  broadcastSend: { zh: '播发', en: 'Send' },
  broadcastDelivery: { zh: '各喇叭播放状态', en: 'Delivery per speaker' },
  broadcastHistory: { zh: '广播记录', en: 'Broadcast history' },
  broadcastPickHint: {
    zh: '在地图上点击喇叭，或按村、分区选择',
    en: 'Click speakers on the map, or choose a village or zone',
  },
  broadcastScheduled: { zh: '已定时', en: 'Scheduled' },
  broadcastSent: { zh: '已播发', en: 'Sent' },
  broadcastReplay: { zh: '重播', en: 'Send again' },
  delivery_sending: { zh: '发送中', en: 'sending' },
  delivery_queued: { zh: '排队中', en: 'queued' },
  delivery_started: { zh: '播放中', en: 'playing' },
  delivery_finished: { zh: '已播完', en: 'played' },
  delivery_interrupted: { zh: '被打断', en: 'interrupted' },
  delivery_failed: { zh: '失败', en: 'failed' },
  bstate_scheduled: { zh: '待播', en: 'scheduled' },
  bstate_sending: { zh: '播发中', en: 'sending' },
  bstate_done: { zh: '已完成', en: 'done' },
  bstate_cancelled: { zh: '已取消', en: 'cancelled' },
  historyOpen: { zh: '历史曲线 ›', en: 'History ›' },
  historyDevice: { zh: '设备', en: 'Device' },
  historyMetric: { zh: '指标', en: 'Metric' },
  historyCompare: { zh: '对比', en: 'Compare with' },
  historyFrom: { zh: '从', en: 'From' },
  historyTo: { zh: '到', en: 'To' },
  historyResolution: { zh: '点数', en: 'Points' },
  historyShow: { zh: '查询', en: 'Show' },
  historyCsv: { zh: '导出 CSV', en: 'Export CSV' },
  historyBadRange: { zh: '开始时间须早于结束时间', en: 'The start must be before the end' },
  historyLoading: { zh: '查询中…', en: 'Loading…' },
  historyPoints: { zh: '{n} 个点 · 每点 {bucket}', en: '{n} points · {bucket} each' },
  historyMin: { zh: '最小', en: 'min' },
  historyMax: { zh: '最大', en: 'max' },
  range_h1: { zh: '近1小时', en: 'Last hour' },
  range_d1: { zh: '近1天', en: 'Last day' },
  range_d7: { zh: '近7天', en: 'Last week' },
  range_d30: { zh: '近30天', en: 'Last 30 days' },
  dropCameraHere: {
    zh: '点击地图上的摄像头，或把摄像头拖到这里',
    en: 'Click a camera on the map, or drag one here',
  },
  snapshot: { zh: '抓拍', en: 'Snapshot' },
  snapshotSaved: { zh: '抓拍已保存', en: 'Snapshot saved' },
  snapshotFailed: { zh: '抓拍失败', en: 'Snapshot failed' },
  enlarge: { zh: '放大', en: 'Enlarge' },
  stream_connecting: { zh: '连接中', en: 'Connecting' },
  stream_live: { zh: '直播', en: 'Live' },
  stream_stalled: { zh: '卡顿', en: 'Stalled' },
  stream_offline: { zh: '离线', en: 'Offline' },
  ptz: { zh: '云台控制', en: 'PTZ' },
  zoomIn: { zh: '拉近', en: 'Zoom in' },
  zoomOut: { zh: '拉远', en: 'Zoom out' },
  presets: { zh: '预置位', en: 'Presets' },
  gotoPreset: { zh: '转到', en: 'Go' },
  storePreset: { zh: '保存当前位置', en: 'Store here' },
  presetName: { zh: '预置位名称', en: 'Preset name' },
  noPresets: { zh: '无预置位', en: 'No presets' },
  loading: { zh: '加载中…', en: 'Loading…' },
  done: { zh: '已执行', en: 'Done' },
  watchVideo: { zh: '看视频', en: 'Watch' },
  alarms: { zh: '告警', en: 'Alarms' },
  acknowledge: { zh: '确认', en: 'Acknowledge' },
  acknowledged: { zh: '已确认', en: 'Acknowledged' },
  noAlarms: { zh: '暂无未确认告警', en: 'No open alarms' },
  yes: { zh: '是', en: 'yes' },
  no: { zh: '否', en: 'no' },
} as const;

export type StringKey = keyof typeof STRINGS;
export type Lang = 'zh' | 'en';

let lang: Lang = (localStorage.getItem('qly.lang') as Lang | null) ?? 'zh';
const listeners = new Set<() => void>();

export function t(key: StringKey, vars: Record<string, string | number> = {}): string {
  const text: string = STRINGS[key][lang];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? ''));
}

/** Translates a text value a device reports (a flight mode…), falling back to the value itself. */
export function valueLabel(value: string): string {
  const key = `value_${value}` as StringKey;
  return key in STRINGS ? t(key) : value;
}

/** Translates a telemetry field name, falling back to the raw name for fields without a label. */
export function fieldLabel(field: string): string {
  const key = `field_${field}` as StringKey;
  return key in STRINGS ? t(key) : field;
}

/** Translates a device event type, falling back to the raw type for events without a label. */
export function eventLabel(type: string): string {
  const key = `event_${type}` as StringKey;
  return key in STRINGS ? t(key) : type;
}

export function getLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem('qly.lang', next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  for (const l of listeners) l();
}

export function onLangChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function timeAgo(ts: number | null, now = Date.now()): string {
  if (ts === null) return t('never');
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return t('secondsAgo', { n: s });
  if (s < 3600) return t('minutesAgo', { n: Math.floor(s / 60) });
  return t('hoursAgo', { n: Math.floor(s / 3600) });
}
