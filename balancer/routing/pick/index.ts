// The picker strategies this balancer ships, registered on first import, as
// grpc-js's index.ts calls each LB policy's setup(): the one place that knows
// them all. The rest of the balancer takes the picker API from here, so a
// registry without them cannot be reached. The order is the one
// registeredPickers() lists (p2c, the default, first).
import * as leastRequest from './least-request';
import * as p2c from './p2c';
import * as roundRobin from './round-robin';

p2c.setup();
roundRobin.setup();
leastRequest.setup();

export { buildPicker, PickerCache, pickerFactory, registeredPickers, registerPicker, unavailablePicker } from './picker';
export type { Picker, PickerContext, PickerFactory, PickResult } from './picker';
