import { LocalFanout } from '../../server/fanout.js';
import { closingFanout, redisForFile } from '../redis/backend.js';
import { fanoutContract } from './fanout.contract.js';

fanoutContract('LocalFanout', () => new LocalFanout());

const redis = redisForFile();
fanoutContract('RedisFanout', async () => closingFanout(await redis.backend()));
