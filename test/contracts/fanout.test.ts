import { LocalFanout } from '../../server/fanout.js';
import { fanoutContract } from './fanout.contract.js';

fanoutContract('LocalFanout', () => new LocalFanout());
