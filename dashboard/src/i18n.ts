/** Every UI string, in one table. Simplified Chinese by default; English on request (saved per browser). */
import { errorText, type HubErrorLike } from './error-messages.ts';

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
  toIncident: { zh: '转事件', en: 'To incident' },
  kpiByVillage: { zh: '各村指标', en: 'By village' },
  attachSnapshot: { zh: '抓拍存证', en: 'Attach a snapshot' },
  linkageNotice: { zh: '联动通知', en: 'Linkage notice' },
  kpis: { zh: '考核指标', en: 'KPIs' },
  incOpen: { zh: '未办结', en: 'Open' },
  incAll: { zh: '全部', en: 'All' },
  st_new: { zh: '待受理', en: 'New' },
  st_accepted: { zh: '已受理', en: 'Accepted' },
  st_assigned: { zh: '已派单', en: 'Assigned' },
  st_in_progress: { zh: '处置中', en: 'In progress' },
  st_resolved: { zh: '已办结', en: 'Resolved' },
  st_closed: { zh: '已结案', en: 'Closed' },
  st_escalated: { zh: '已上报', en: 'Escalated' },
  st_returned: { zh: '已退回', en: 'Returned' },
  incPriority: { zh: '紧急程度', en: 'Priority' },
  allPriorities: { zh: '全部紧急程度', en: 'All priorities' },
  prio_low: { zh: '一般', en: 'Low' },
  prio_normal: { zh: '普通', en: 'Normal' },
  prio_high: { zh: '紧急', en: 'High' },
  prio_urgent: { zh: '特急', en: 'Urgent' },
  newIncident: { zh: '新建事件', en: 'New incident' },
  pickIncident: { zh: '选择左侧事件查看详情', en: 'Pick an incident to see it' },
  noIncidents: { zh: '暂无事件', en: 'No incidents' },
  kpiWindow: { zh: '近30天', en: 'Last 30 days' },
  kpiCreated: { zh: '事件', en: 'Incidents' },
  kpiAcceptance: { zh: '受理率', en: 'Acceptance' },
  kpiClosure: { zh: '办结率', en: 'Closure' },
  kpiOnTime: { zh: '按时率', en: 'On time' },
  kpiMtta: { zh: '平均受理', en: 'Mean time to accept' },
  kpiMttr: { zh: '平均办结', en: 'Mean time to resolve' },
  incStatus: { zh: '状态', en: 'Status' },
  incCategory: { zh: '类别', en: 'Category' },
  cat_fire: { zh: '火情', en: 'Fire' },
  cat_flood: { zh: '汛情', en: 'Flood' },
  cat_intrusion: { zh: '入侵', en: 'Intrusion' },
  cat_rescue: { zh: '救援', en: 'Rescue' },
  cat_traffic: { zh: '交通', en: 'Traffic' },
  cat_dispute: { zh: '纠纷', en: 'Dispute' },
  cat_other: { zh: '其他', en: 'Other' },
  incSite: { zh: '发生地', en: 'Where' },
  incOwner: { zh: '承办层级', en: 'Handled by' },
  incSla: { zh: '时限', en: 'Deadline' },
  incAssignee: { zh: '处置人', en: 'Assignee' },
  incFeedback: { zh: '反馈', en: 'Feedback' },
  incNote: { zh: '备注', en: 'Note' },
  act_accept: { zh: '受理', en: 'Accept' },
  act_assign: { zh: '派单', en: 'Assign' },
  act_start: { zh: '开始处置', en: 'Start' },
  act_resolve: { zh: '办结', en: 'Resolve' },
  act_close: { zh: '结案', en: 'Close' },
  act_reopen: { zh: '重新处置', en: 'Reopen' },
  act_escalate: { zh: '上报', en: 'Escalate' },
  act_return: { zh: '退回', en: 'Return' },
  linkNow: { zh: '一键联动', en: 'Link' },
  call: { zh: '视频通话', en: 'Video call' },
  callVillage: { zh: '视频呼叫该村', en: 'Video call the village' },
  callCommandRoom: { zh: '呼叫指挥中心', en: 'Call the command room' },
  timeline: { zh: '处置记录', en: 'Timeline' },
  ev_created: { zh: '创建', en: 'created' },
  ev_accept: { zh: '受理', en: 'accepted' },
  ev_assign: { zh: '派单', en: 'assigned' },
  ev_start: { zh: '开始处置', en: 'started' },
  ev_resolve: { zh: '办结', en: 'resolved' },
  ev_close: { zh: '结案', en: 'closed' },
  ev_reopen: { zh: '重新处置', en: 'reopened' },
  ev_escalate: { zh: '上报', en: 'escalated' },
  ev_return: { zh: '退回', en: 'returned' },
  ev_sla_warning: { zh: '时限预警', en: 'deadline warning' },
  ev_sla_breach: { zh: '超时', en: 'deadline missed' },
  ev_linked: { zh: '联动', en: 'linked' },
  ev_call: { zh: '视频通话', en: 'video call' },
  ev_note: { zh: '备注', en: 'note' },
  linkage: { zh: '联动', en: 'Linkage' },
  linkCameras: { zh: '附近摄像头', en: 'Nearest cameras' },
  mustTurn: { zh: '需转向', en: 'must turn' },
  linkSpeakers: { zh: '附近大喇叭', en: 'Nearest loudspeakers' },
  playWarning: { zh: '播放警告', en: 'Play the warning' },
  warningStarted: { zh: '警告已播放', en: 'warning sent' },
  linkDrone: { zh: '附近无人机', en: 'Nearest drone' },
  sendDrone: { zh: '派无人机', en: 'Send the drone' },
  droneSent: { zh: '无人机已出发', en: 'Drone sent' },
  incTitle: { zh: '事件标题', en: 'Title' },
  lat: { zh: '纬度', en: 'Latitude' },
  lon: { zh: '经度', en: 'Longitude' },
  pickOnMap: { zh: '地图选点', en: 'Pick on the map' },
  incDescription: { zh: '情况描述', en: 'Description' },
  report: { zh: '上报', en: 'Report' },
  slaDone: { zh: '已办结', en: 'done' },
  slaAccept: { zh: '受理剩余', en: 'accept within' },
  slaResolve: { zh: '办结剩余', en: 'resolve within' },
  slaOverdue: { zh: '已超时', en: 'overdue by' },
  modeIncidents: { zh: '事件', en: 'Incidents' },
  terminalTitle: { zh: '村级终端', en: 'Village terminal' },
  callLog: { zh: '通话记录', en: 'Call log' },
  callFailed: { zh: '呼叫失败', en: 'Call failed' },
  callBusy: { zh: '正在通话中', en: 'Already in a call' },
  callNoCamera: { zh: '无法打开摄像头或麦克风', en: 'Cannot open camera or microphone' },
  callMissed: { zh: '未接来电', en: 'Missed call' },
  callDeclined: { zh: '对方已拒绝', en: 'Call declined' },
  callEnded: { zh: '通话已结束', en: 'Call ended' },
  commandRoom: { zh: '指挥中心', en: 'Command room' },
  incomingCall: { zh: '来电', en: 'Incoming call' },
  answer: { zh: '接听', en: 'Answer' },
  decline: { zh: '拒绝', en: 'Decline' },
  calling: { zh: '正在呼叫', en: 'Calling' },
  inCall: { zh: '通话中', en: 'In call' },
  incident: { zh: '事件', en: 'Incident' },
  hangUp: { zh: '挂断', en: 'Hang up' },
  showCamera: { zh: '共享画面', en: 'Show camera' },
  lastCall: { zh: '上次通话', en: 'Last call' },
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
  firmware: { zh: '固件', en: 'Firmware' },
  home: { zh: '返航点', en: 'Home' },
  position: { zh: '位置', en: 'Position' },
  field_temperature: { zh: '温度', en: 'Temperature' },
  field_humidity: { zh: '湿度', en: 'Humidity' },
  field_pm25: { zh: 'PM2.5', en: 'PM2.5' },
  field_water_level: { zh: '水位', en: 'Water level' },
  field_rainfall: { zh: '降雨量', en: 'Rainfall' },
  field_battery: { zh: '电量', en: 'Battery' },
  field_alt: { zh: '高度', en: 'Altitude' },
  field_speed: { zh: '速度', en: 'Speed' },
  field_heading: { zh: '航向', en: 'Heading' },
  field_lat: { zh: '纬度', en: 'Latitude' },
  field_lon: { zh: '经度', en: 'Longitude' },
  field_mode: { zh: '模式', en: 'Mode' },
  field_volume: { zh: '音量', en: 'Volume' },
  field_playing: { zh: '播放中', en: 'Playing' },
  field_queued: { zh: '排队中的广播', en: 'Broadcasts queued' },
  field_power: { zh: '电源', en: 'Power' },
  field_bitrate_kbps: { zh: '码率', en: 'Bitrate' },
  field_rtt_ms: { zh: '网络往返时延', en: 'Round-trip time' },
  field_clock_offset_s: { zh: '时钟偏差', en: 'Clock offset' },
  field_streams_pushing: { zh: '正在推送的视频流', en: 'Streams pushing' },
  field_recording: { zh: '录像中', en: 'Recording' },
  field_pan: { zh: '水平角', en: 'Pan' },
  field_tilt: { zh: '俯仰角', en: 'Tilt' },
  field_zoom: { zh: '变倍', en: 'Zoom' },
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
  ptzZoomIn: { zh: '拉近 +', en: 'Zoom in +' },
  ptzZoomOut: { zh: '拉远 −', en: 'Zoom out −' },
  ptzStop: { zh: '停止', en: 'Stop' },
  ptzHome: { zh: '回到预置位', en: 'Home preset' },
  ptzStoreHome: { zh: '设当前位置为预置位', en: 'Store as home preset' },
  droneRtl: { zh: '返航', en: 'Return home' },
  droneHold: { zh: '悬停', en: 'Hold' },
  droneLand: { zh: '降落', en: 'Land' },
  volumeDown: { zh: '音量 40%', en: 'Volume 40%' },
  volumeUp: { zh: '音量 85%', en: 'Volume 85%' },
  speakerOn: { zh: '开启喇叭', en: 'Speaker on' },
  speakerOff: { zh: '关闭喇叭', en: 'Speaker off' },
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
  field_link_quality: { zh: '链路质量', en: 'Link quality' },
  field_link_lost: { zh: '链路中断', en: 'Link lost' },
  field_link_errors: { zh: '链路错误帧', en: 'Link frame errors' },
  field_link_refused: { zh: '链路拒收帧', en: 'Link frames refused' },
  field_distance_m: { zh: '航程', en: 'Distance' },
  field_link_drops: { zh: '网关丢弃报文', en: 'Datagrams dropped (gateway)' },
  field_home_lat: { zh: '返航点纬度', en: 'Home latitude' },
  field_home_lon: { zh: '返航点经度', en: 'Home longitude' },
  field_home_alt: { zh: '返航点海拔', en: 'Home altitude' },
  field_ptz_out_of_range: { zh: '云台位置越界', en: 'PTZ position out of range' },
  field_climb: { zh: '升降速度', en: 'Climb' },
  field_voltage: { zh: '电压', en: 'Voltage' },
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
  event_recording_stopped: { zh: '录像中断', en: 'Recording stopped' },
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
  enlarge: { zh: '大画面查看', en: 'Open large view' },
  stream_connecting: { zh: '连接中', en: 'Connecting' },
  stream_live: { zh: '直播', en: 'Live' },
  stream_stalled: { zh: '卡顿', en: 'Stalled' },
  stream_offline: { zh: '离线', en: 'Offline' },
  transcodedH265: { zh: 'H.265 转码', en: 'H.265 transcoded' },
  streamTranscodeLimit: {
    zh: '此摄像机为 H.265，本浏览器无法直接播放，中心转码通道已满，请稍后再试',
    en: 'This camera sends H.265, which this browser cannot play, and the hub’s transcoding slots are all in use: try again later',
  },
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

  // Broadcast console
  broadcastTargets: { zh: '广播对象', en: 'Targets' },
  broadcastContent: { zh: '广播内容', en: 'Content' },
  broadcastVoice: { zh: '播报语音', en: 'Voice' },
  voiceMandarin: { zh: '普通话', en: 'Mandarin' },
  voiceEnglish: { zh: '英语', en: 'English' },
  broadcastHoldAt: { zh: '按住说话（{priority}）', en: 'Hold to talk ({priority})' },
  broadcastTalkPriority: {
    zh: '喊话将以“{priority}”优先级播出',
    en: 'Live talk goes out at {priority} priority',
  },
  broadcastTalkingAt: {
    zh: '正在以“{priority}”优先级喊话…松开结束',
    en: 'Talking at {priority} priority… release to stop',
  },
  broadcastHoldKeys: { zh: '也可按住空格键说话', en: 'Or hold the Space key to talk' },
  unchoose: { zh: '取消选择 {name}', en: 'Remove {name}' },
  broadcastTextMissing: { zh: '请输入要播报的内容', en: 'Type what the speakers should say' },
  broadcastClipMissing: { zh: '请先选择或上传音频', en: 'Choose or upload a clip first' },
  broadcastStopped: { zh: '广播已停止', en: 'Broadcast stopped' },
  broadcastStopAll: { zh: '全部停止', en: 'Stop everywhere' },
  stopSpeaker: { zh: '停止', en: 'Stop' },
  stopOnSpeaker: { zh: '停止 {name} 的播放', en: 'Stop playing on {name}' },
  speakerStopping: { zh: '正在停止 {name}…', en: 'Stopping {name}…' },
  noClips: { zh: '尚无音频，请上传', en: 'No clips yet: upload one' },
  deliveryStoppedByOfficer: { zh: '已人工停止', en: 'stopped by an officer' },
  deliveryShutdown: { zh: '网关关闭', en: 'gateway shut down' },
  deliveryPreempted: { zh: '被更高优先级的广播打断', en: 'pre-empted by a higher priority' },
  deliveryFailedAtSpeaker: { zh: '喇叭未能播放', en: 'the speaker could not play it' },
  deliveredCount: { zh: '{ok}/{n} 已播完', en: '{ok}/{n} played' },
  // Calls
  lastCallWith: { zh: '上次通话：{who}', en: 'Last call: {who}' },
  closeLastCall: { zh: '关闭上次通话信息', en: 'Close the last call card' },
  callThisVillage: { zh: '视频呼叫 {name}', en: 'Video call {name}' },
  callShort: { zh: '呼叫', en: 'Call' },
  // Drone
  droneModeNow: { zh: '当前模式', en: 'Current mode' },
  droneTarget: { zh: '指点飞行目标', en: 'Fly-to target' },
  replaySpeed: { zh: '回放速度', en: 'Replay speed' },
  // History
  historyRange: { zh: '时间范围', en: 'Period' },
  historyNoCompare: { zh: '不对比', en: 'None' },
  historyAvg: { zh: '平均', en: 'mean' },
  historyCount: { zh: '样本数', en: 'samples' },
  csvLocalTime: { zh: '本地时间', en: 'Local time' },
  csvUtc: { zh: 'UTC 时间', en: 'UTC' },
  // Shell
  skipLinks: { zh: '快速跳转', en: 'Skip links' },
  skipToMap: { zh: '跳到地图', en: 'Skip to the map' },
  skipToDevices: { zh: '跳到设备列表', en: 'Skip to the device list' },
  skipToWall: { zh: '跳到视频墙', en: 'Skip to the video wall' },
  skipToAlarms: { zh: '跳到告警', en: 'Skip to the alarms' },
  views: { zh: '视图', en: 'Views' },
  sidebar: { zh: '辖区、网关、设备和告警', en: 'Areas, gateways, devices and alarms' },
  /** Between the items of a list in a sentence. */
  listSep: { zh: '、', en: ', ' },
  // Forms and errors
  tooLongBy: { zh: '{n} / {max}（超出上限）', en: '{n} / {max} (over the limit)' },
  actorSystem: { zh: '系统', en: 'System' },
  slaDue: { zh: '截止 {at}', en: 'due {at}' },
  // Linkage
  linkedCounts: {
    zh: '调取 {cameras} 个摄像头、{speakers} 个大喇叭',
    en: '{cameras} cameras, {speakers} loudspeakers',
  },
  showOnWall: { zh: '到视频墙查看', en: 'Show the wall' },
  camerasOnWall: { zh: '已把 {n} 个摄像头放上视频墙', en: '{n} cameras put on the video wall' },
  warningProposed: { zh: '建议播放的警告：', en: 'Proposed warning:' },
  warningConfirm: {
    zh: '将以“紧急”优先级在 {n} 个大喇叭播放上面的警告，确认？',
    en: 'Play the warning above on {n} loudspeakers at emergency priority?',
  },
  playWarningNow: { zh: '确认播放', en: 'Play it now' },
  linkageToastRule: {
    zh: '联动规则“{rule}”已处置事件 #{incident}：调取 {cameras} 个摄像头、{speakers} 个大喇叭',
    en: 'Rule “{rule}” linked incident #{incident}: {cameras} cameras and {speakers} loudspeakers',
  },
  linkageToastRuleOnly: {
    zh: '联动规则“{rule}”已执行：调取 {cameras} 个摄像头、{speakers} 个大喇叭',
    en: 'Rule “{rule}” ran: {cameras} cameras and {speakers} loudspeakers',
  },
  linkageToastManual: {
    zh: '事件 #{incident} 已联动：{cameras} 个摄像头、{speakers} 个大喇叭',
    en: 'Incident #{incident} linked: {cameras} cameras and {speakers} loudspeakers',
  },
  // Video wall and PTZ
  wallLayout: { zh: '{n} 画面', en: '{n} tiles' },
  emptyTile: { zh: '画面 {n}：空', en: 'Tile {n}: empty' },
  cameraTile: {
    zh: '画面 {n}：{name}（回车键看大画面）',
    en: 'Tile {n}: {name} (Enter opens the large view)',
  },
  removeFromWall: { zh: '移出视频墙', en: 'Remove from the wall' },
  closeLarge: { zh: '关闭大画面（Esc）', en: 'Close the large view (Esc)' },
  playOnWall: { zh: '在视频墙播放', en: 'Play on the wall' },
  ptzBadge: { zh: '云台', en: 'PTZ' },
  ptzBadgeTitle: { zh: '可遥控转动和变倍', en: 'Can be turned and zoomed' },
  ptzUpLeft: { zh: '左上', en: 'Up left' },
  ptzUpRight: { zh: '右上', en: 'Up right' },
  ptzDownLeft: { zh: '左下', en: 'Down left' },
  ptzDownRight: { zh: '右下', en: 'Down right' },
  ptzJoystick: { zh: '云台摇杆', en: 'PTZ joystick' },
  ptzKeysHelp: {
    zh: '云台摇杆：按住方向键转动，按住 + 或 − 变倍，空格停止，Esc 关闭大画面',
    en: 'PTZ joystick: hold the arrow keys to turn, + or − to zoom, Space stops, Esc closes the large view',
  },
  ptzKeysHint: {
    zh: '键盘：方向键转动，+/− 变倍，空格停止，Esc 关闭',
    en: 'Keys: arrows turn, +/− zoom, Space stops, Esc closes',
  },
  ptzMoving: { zh: '转动中…', en: 'Moving…' },
  ptzStopped: { zh: '已停止', en: 'Stopped' },

  sev_info: { zh: '提示', en: 'info' },
  sev_warning: { zh: '警告', en: 'warning' },
  sev_alarm: { zh: '告警', en: 'alarm' },
  sev_critical: { zh: '严重', en: 'critical' },
  zone_east: { zh: '东区', en: 'East' },
  zone_west: { zh: '西区', en: 'West' },
  zone_north: { zh: '北区', en: 'North' },
  zone_south: { zh: '南区', en: 'South' },
  zone_center: { zh: '中心区', en: 'Centre' },
  zone_centre: { zh: '中心区', en: 'Centre' },
  zone_riverside: { zh: '沿河', en: 'Riverside' },
  zone_inland: { zh: '内陆', en: 'Inland' },
  'event_playback.started': { zh: '开始播放', en: 'Playback started' },
  'event_playback.progress': { zh: '播放中', en: 'Playing' },
  'event_playback.finished': { zh: '播放完毕', en: 'Playback finished' },
  'event_playback.interrupted': { zh: '播放被打断', en: 'Playback interrupted' },
  'event_playback.failed': { zh: '播放失败', en: 'Playback failed' },
  'event_media.refused': { zh: '拒绝了可疑的视频地址', en: 'Refused a suspicious media address' },
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

/** A translation when there is one, else `fallback` (categories and timeline actions from rules). */
export function tOr(key: string, fallback: string): string {
  return key in STRINGS ? t(key as StringKey) : fallback;
}

/** Translates a text value a device reports (a flight mode…), falling back to the value itself. */
export function valueLabel(value: string): string {
  const key = `value_${value}` as StringKey;
  return key in STRINGS ? t(key) : value;
}

/**
 * The unit of fields that have one by their nature, when a device's descriptor does not say
 * (`DeviceView.units` wins: a level gauge may report millimetres).
 */
const DEFAULT_UNITS: Record<string, string> = {
  temperature: '°C',
  humidity: '%',
  pm25: 'µg/m³',
  water_level: 'm',
  rainfall: 'mm',
  battery: '%',
  alt: 'm',
  home_alt: 'm',
  speed: 'm/s',
  climb: 'm/s',
  heading: '°',
  pan: '°',
  tilt: '°',
  zoom: '×',
  voltage: 'V',
  link_quality: '%',
  distance_m: 'm',
  bitrate_kbps: 'kbps',
  rtt_ms: 'ms',
  clock_offset_s: 's',
};

/** A field's unit: the device's own, else the field's usual one, else none. */
export function fieldUnit(field: string, units?: Record<string, string>): string | undefined {
  return units?.[field] ?? DEFAULT_UNITS[field];
}

/** A code's words when nothing translates it: `link_errors` → "link errors", never snake_case. */
function humanize(code: string): string {
  return code.replace(/[_.]+/g, ' ').trim();
}

/** A telemetry field's name in the user's language (an unknown one humanized). */
export function fieldName(field: string): string {
  const key = `field_${field}` as StringKey;
  return key in STRINGS ? t(key) : humanize(field);
}

/** A field's name with its unit: "水位 (m)". */
export function fieldLabel(field: string, units?: Record<string, string>): string {
  const unit = fieldUnit(field, units);
  return unit ? `${fieldName(field)} (${unit})` : fieldName(field);
}

/** Translates a device event type (an unknown one humanized). */
export function eventLabel(type: string): string {
  const key = `event_${type}` as StringKey;
  return key in STRINGS ? t(key) : humanize(type);
}

/** An event's severity in words. */
export function severityLabel(severity: string): string {
  const key = `sev_${severity}` as StringKey;
  return key in STRINGS ? t(key) : humanize(severity);
}

/** A loudspeaker zone's name: the compass words and common ones translated, others as named. */
export function zoneLabel(zone: string): string {
  const key = `zone_${zone.toLowerCase()}` as StringKey;
  return key in STRINGS ? t(key) : humanize(zone);
}

/**
 * The sentence for an error, in the user's language: the hub's refusals by their code, reason and
 * field (error-messages.ts); anything else (the network gone) as "cannot reach the hub".
 */
export function errorMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('HUB_ERR_')) return errorText(err as HubErrorLike, lang);
  return t('networkError');
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
