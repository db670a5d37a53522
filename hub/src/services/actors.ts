/** Names the hub's own services act under (audit log, timelines, a broadcast's creator). */

/** Automatic linkage: a village operator of the alarm's village (see LinkageService.actorFor). */
export const LINKAGE_ACTOR = 'linkage';
