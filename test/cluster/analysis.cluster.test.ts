// Rollout analysis on a real control plane: the function process, started by
// the stack with --aws-endpoint-url at the stack's moto (which serves Lambda
// and CloudWatch on one endpoint) and credentials only in its environment
// (the AWS SDK's default chain: no credential "aws" on the pipeline step),
// reads a CloudWatch alarm while Crossplane v2.2.1 reconciles a rollout; an
// alarm that goes to ALARM aborts it, and moto's alias, the traffic production
// would see, goes back wholly to stable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { condition, installComposition, Recorder, REPO_ROOT, Scenario, startHarness, waitUntil, type Harness } from './harness.js';
import { REGION } from './stack.js';

let h: Harness;
let cw: CloudWatchClient | undefined;

beforeAll(async () => {
  h = await startHarness({
    circuitBreakerBurst: 1000,
    manifests: [join(REPO_ROOT, 'package/configuration-v2/xrd.yaml')],
    functionArgs: ({ motoEndpoint }) => [`--aws-endpoint-url=${motoEndpoint}`],
    // The default chain reads these first; nothing else (no IMDS in the suite's network namespace) is tried.
    functionEnv: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  await installComposition(h, 'lambdacanaries.canary.lambda.fn.crossplane.io', join(REPO_ROOT, 'package/configuration-v2/composition.yaml'));
  cw = new CloudWatchClient({ endpoint: h.stack.motoEndpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
});

afterAll(async () => {
  cw?.destroy();
  await h?.stop();
});

const v = (name: string) => ({ versionRef: { from: { name } } });

describe('rollout analysis on a real control plane (Crossplane v2.2.1, moto CloudWatch, default credential chain)', () => {
  it("a CloudWatch alarm that goes to ALARM mid-step aborts the rollout: moto's alias back on stable, phase Aborted naming the alarm, AnalysisPassing False, a Warning", async () => {
    const started = Date.now();
    const s = await Scenario.create(h, 'analysis-alarm');
    const alarmName = `${s.functionName}-errors`;
    await s.deployStable('app-v1');
    const rollout = {
      target: v('app-v2'),
      strategy: { steps: [{ weight: 10, pause: { duration: '10m' } }] },
      analysis: { alarms: { names: [alarmName] }, interval: '30s' },
    };
    await s.apply({ versions: [{ name: 'app-v1' }, { name: 'app-v2' }], rollout });
    await cw!.send(
      new PutMetricAlarmCommand({
        AlarmName: alarmName,
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [
          { Name: 'FunctionName', Value: s.functionName },
          { Name: 'Resource', Value: `${s.functionName}:${s.aliasName}` },
        ],
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanThreshold',
      }),
    );
    await cw!.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'OK', StateReason: 'set by the test' }));
    await s.waitPublished('app-v2');
    await s.waitTraffic('1 + 2@0.1');
    // The function asked moto's CloudWatch (with the credentials from its environment) and the alarm was OK.
    await waitUntil(
      () => `AnalysisPassing True\n${s.diagnose()}`,
      60_000,
      () => condition(s.xr(), 'AnalysisPassing')?.status === 'True',
    );
    expect(s.xr().status?.rollout).toMatchObject({
      phase: 'Progressing',
      step: 1,
      analysis: { result: 'Passing', checks: [{ name: `alarm ${alarmName}`, passed: true }] },
    });

    const rec = new Recorder(s);
    const alarmedAt = Date.now();
    await cw!.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'ALARM', StateReason: 'set by the test: errors' }));
    await s.waitTraffic('1', 60_000);
    const toStable = (Date.now() - alarmedAt) / 1000;
    await waitUntil(
      () => `phase Aborted\n${s.diagnose()}`,
      30_000,
      () => s.xr().status?.rollout?.['phase'] === 'Aborted',
    );
    const toAborted = (Date.now() - alarmedAt) / 1000;
    const reason = `analysis: CloudWatch alarm ${alarmName} is in ALARM`;
    await waitUntil(
      () => `a Warning event naming the alarm\n${s.diagnose()}`,
      30_000,
      () => s.events().some((e) => e.startsWith('LambdaCanary Warning') && e.includes(reason)),
    );
    await rec.stop();
    console.log(`[timing] ${s.namespace}: ALARM set → moto on stable ${toStable}s, → phase Aborted ${toAborted}s; scenario ${(Date.now() - started) / 1000}s`);
    expect(toStable).toBeLessThan(60);

    // Every routing moto held since the alarm: the split, then stable alone (with the zero-weight entry).
    expect(rec.traffic.map((t) => t.routing)).toEqual(['1 + 2@0.1', '1']);
    const alias = await h.aws.alias(s.functionName, s.aliasName);
    expect(alias?.FunctionVersion).toBe('1');
    expect(alias?.RoutingConfig?.AdditionalVersionWeights).toEqual({ '2': 0 });
    const xr = s.xr();
    expect(xr.status?.rollout).toMatchObject({ phase: 'Aborted', stableVersion: '1', abortReason: reason });
    expect(condition(xr, 'AnalysisPassing')).toMatchObject({ status: 'False', reason: 'Aborted' });
    expect(s.events().filter((e) => e.includes('RolloutAborted'))).not.toEqual([]);
    // The function was pointed at moto by its flag (and said so), and the pipeline step passes no credential.
    expect(readFileSync(h.stack.functionLog, 'utf8')).toContain('CloudWatch calls go to --aws-endpoint-url: for tests only');
  });
});
