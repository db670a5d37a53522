/**
 * Every error the hub can answer, worded for a person in both languages. The hub's `message` is for
 * logs and API users (English, technical); the screen shows the sentence for the error's code — or,
 * where one code covers several cases, for its `reason` — naming the field it concerns. Forms place
 * it beside that field (`field`). Pure data and one function, so a unit test can walk the catalog.
 */
import type { ErrorDetail, ErrorReason, HubErrorCode } from '@qianliyan/protocols';

export type Lang = 'zh' | 'en';
type Text = Record<Lang, string>;

export const CODE_MESSAGES: Record<HubErrorCode, Text> = {
  HUB_ERR_UNAUTHORIZED: { zh: '登录已失效，请重新登录', en: 'Your session has ended; sign in again' },
  HUB_ERR_BAD_CREDENTIALS: { zh: '用户名或密码错误', en: 'Wrong username or password' },
  HUB_ERR_FORBIDDEN: { zh: '您的角色无权执行此操作', en: 'Your role may not do this' },
  HUB_ERR_VALIDATION: { zh: '输入有误，请检查后重试', en: 'Please check what you entered' },
  HUB_ERR_NOT_FOUND: {
    zh: '未找到（可能已删除，或不在您的辖区）',
    en: 'Not found (it may be gone, or outside your area)',
  },
  HUB_ERR_CONFLICT: { zh: '当前状态下无法执行此操作', en: 'Not possible in the current state' },
  HUB_ERR_RATE_LIMITED: { zh: '操作过于频繁，请稍后再试', en: 'Too many requests; try again shortly' },
  HUB_ERR_TOO_LARGE: { zh: '内容过大', en: 'Too large' },
  HUB_ERR_LOCKED: { zh: '登录失败次数过多，请稍后再试', en: 'Too many failed sign-ins; try again later' },
  HUB_ERR_GATEWAY_OFFLINE: {
    zh: '该村网关离线，指令无法送达',
    en: 'The village gateway is offline; the command cannot reach it',
  },
  HUB_ERR_DEVICE_UNAVAILABLE: { zh: '网关无法连接该设备', en: 'The gateway cannot reach this device' },
  HUB_ERR_UNSUPPORTED_ACTION: { zh: '该设备不支持此操作', en: 'This device does not support this action' },
  HUB_ERR_CONFIRMATION_REQUIRED: { zh: '此操作需要再次确认', en: 'This action needs your confirmation' },
  HUB_ERR_BUSY: { zh: '指挥中心服务器繁忙，请稍后再试', en: 'The hub is busy; try again shortly' },
  HUB_ERR_TIMEOUT: { zh: '设备未在时限内应答', en: 'The device did not answer in time' },
  HUB_ERR_UNSUPPORTED_MEDIA: { zh: '不支持的文件类型', en: 'Unsupported file type' },
  HUB_ERR_INTERNAL: { zh: '服务器内部错误，请稍后再试', en: 'Internal error on the hub; try again' },
};

/** `{field}` is the field's name in the same language; `{limit}` the bound. */
export const REASON_MESSAGES: Record<ErrorReason, Text> = {
  required: { zh: '请填写{field}', en: '{field} is required' },
  blank: { zh: '{field}不能只有空格', en: '{field} cannot be blank' },
  too_long: { zh: '{field}最多 {limit} 个字', en: '{field}: at most {limit} characters' },
  too_short: { zh: '{field}至少 {limit} 个字', en: '{field}: at least {limit} characters' },
  out_of_range: { zh: '{field}超出允许范围', en: '{field} is out of range' },
  invalid: { zh: '{field}格式不正确', en: '{field} is not valid' },
  unknown_field: {
    zh: '请求含有不允许的内容（{field}）',
    en: 'The request carries something not allowed ({field})',
  },
  bad_range: { zh: '开始时间须早于结束时间', en: 'The start must be before the end' },
  no_location: { zh: '事件没有位置，请先设置位置', en: 'The incident has no location; set one first' },
  out_of_scope: { zh: '超出您的辖区', en: 'Outside your area' },
  no_target: { zh: '没有可以播放的大喇叭', en: 'No loudspeaker to play on' },
  already_ended: { zh: '已经结束', en: 'Already over' },
  wrong_state: { zh: '事件当前的状态不允许此操作', en: 'The incident’s current state does not allow this' },
  live_talk: { zh: '实时喊话不能定时或重播', en: 'Live talk cannot be scheduled or sent again' },
  busy: { zh: '正在通话中，请先挂断', en: 'Already in a call; hang up first' },
};

/** Where one reason reads differently for one field. */
export const FIELD_REASON_MESSAGES: Record<string, Text> = {
  'speaker:no_target': { zh: '该大喇叭不在这次广播中', en: 'This loudspeaker is not part of the broadcast' },
  'speaker:already_ended': { zh: '该大喇叭已经停止播放', en: 'This loudspeaker has stopped already' },
};

/** The request fields a message may name. */
export const FIELD_NAMES: Record<string, Text> = {
  title: { zh: '事件标题', en: 'Title' },
  description: { zh: '情况描述', en: 'Description' },
  category: { zh: '类别', en: 'Category' },
  priority: { zh: '紧急程度', en: 'Priority' },
  site: { zh: '发生地', en: 'Place' },
  location: { zh: '位置', en: 'Location' },
  devices: { zh: '设备', en: 'Devices' },
  assignee: { zh: '处置人', en: 'Assignee' },
  feedback: { zh: '反馈', en: 'Feedback' },
  note: { zh: '备注', en: 'Note' },
  from: { zh: '开始时间', en: 'Start' },
  to: { zh: '结束时间', en: 'End' },
  speaker: { zh: '大喇叭', en: 'Loudspeaker' },
  targets: { zh: '广播对象', en: 'Targets' },
  content: { zh: '广播内容', en: 'Content' },
  text: { zh: '广播内容', en: 'Text' },
  repeat: { zh: '次数', en: 'Repeats' },
  schedule: { zh: '定时', en: 'Time' },
  username: { zh: '用户名', en: 'Username' },
  password: { zh: '密码', en: 'Password' },
  // The alarm rule form (its fields by their path in the rule body)
  name: { zh: '规则名称', en: 'Rule name' },
  severity: { zh: '级别', en: 'Severity' },
  'condition.field': { zh: '读数', en: 'Reading' },
  'condition.value': { zh: '阈值', en: 'Threshold' },
  'condition.hysteresis': { zh: '回差', en: 'Hysteresis' },
  'condition.forMs': { zh: '持续时间', en: 'Duration' },
  'condition.change': { zh: '变化量', en: 'Change' },
  'condition.windowMs': { zh: '时间窗', en: 'Time window' },
  'scope.site': { zh: '辖区', en: 'Area' },
  'scope.device': { zh: '设备', en: 'Device' },
  'action.speak.text': { zh: '喊话内容', en: 'Text to speak' },
  'action.speak.count': { zh: '喊话次数', en: 'Times' },
};

export interface HubErrorLike {
  code: string;
  detail?: ErrorDetail;
}

/** The sentence for an error from the hub, in `lang`. An unknown code reads as an internal error. */
export function errorText(err: HubErrorLike, lang: Lang): string {
  const { field, reason, limit } = err.detail ?? {};
  const fieldName = field
    ? (FIELD_NAMES[field]?.[lang] ?? FIELD_NAMES[field.split('.')[0] as string]?.[lang] ?? field)
    : '';
  const fill = (text: string) =>
    text
      .replace('{field}', fieldName || (lang === 'zh' ? '此项' : 'This field'))
      .replace('{limit}', limit === undefined ? '' : String(limit));
  const special = field && reason ? FIELD_REASON_MESSAGES[`${field}:${reason}`] : undefined;
  if (special) return special[lang];
  if (reason && REASON_MESSAGES[reason]) return fill(REASON_MESSAGES[reason][lang]);
  const byCode = CODE_MESSAGES[err.code as HubErrorCode] ?? CODE_MESSAGES.HUB_ERR_INTERNAL;
  return byCode[lang];
}
