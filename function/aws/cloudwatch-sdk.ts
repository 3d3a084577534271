// The part of the AWS SDK the CloudWatch adapter uses, as one ES module with
// named exports. cloudwatch.ts imports it lazily, so the build
// (scripts/bundle.ts) puts it, and the SDK behind it, in a chunk of its own
// that only a process that measures loads. A dynamic import of the SDK's
// CommonJS package itself would leave such a chunk with only a default export.
export { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
