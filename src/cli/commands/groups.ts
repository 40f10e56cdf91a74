import type { Command } from 'commander';
import { describeGroup, listGroupIds, listGroups, retryGroupOf } from '../../ops/inspect/consumer-groups';
import { lagReport } from '../../ops/inspect/consumer-lag';
import { EXIT_CODES_HELP, operatorPlatform, withOperatorAdmin } from '../operator-command';
import { formatTable } from '../table';
import { formatGroupLag } from './lag';

interface GroupsOptions {
  json?: boolean;
  topicPrefix?: string;
}

export function registerGroupCommands(program: Command): void {
  const groups = program.command('groups').description('consumer groups: state, members, assignments and lag');

  groups
    .command('list')
    .description("every consumer group the brokers know, Tidings' own first, with state and member count")
    .option('--json', 'print the groups as a JSON array')
    .option('--topic-prefix <prefix>', 'prefix of the contract topics (overrides TIDINGS_TOPIC_PREFIX), to tell which groups are Tidings\'')
    .addHelpText(
      'after',
      `
A group is Tidings' when it reads a contract topic (auth.events, payment.events under the topic
prefix) or one of their retry tiers or DLQs, or when its id starts with "tidings.".

Examples:
  $ tidings groups list
  $ tidings groups list --json | jq -r '.[] | select(.tidings and .members == 0) | .groupId'
${EXIT_CODES_HELP}`,
    )
    .action(async (options: GroupsOptions) => {
      const platform = operatorPlatform(options, 'tidings-groups');
      const contract = [platform.topics.auth, platform.topics.payment];
      const list = await withOperatorAdmin(platform, (admin) => listGroups(admin, contract));
      if (options.json) {
        console.log(JSON.stringify(list));
        return;
      }
      if (list.length === 0) {
        console.log('no consumer groups');
        return;
      }
      console.log(formatTable([['GROUP', 'TIDINGS', 'STATE', 'MEMBERS', 'TOPICS'], ...list.map((g) => [g.groupId, g.tidings ? 'yes' : '-', g.state, String(g.members), String(g.topics.length)])]));
    });

  groups
    .command('describe <group>')
    .description('members of a group (member id, client id, host), the partitions assigned to each, and its lag')
    .option('--json', 'print {group, retryGroup?, lag} as JSON')
    .addHelpText(
      'after',
      `
Tidings' runtime runs two groups per deployment: <group> for the source topics and
<group>.retry for its retry tiers; describe shows both.

Examples:
  $ tidings groups describe tidings.notification
  $ tidings groups describe tidings.notification --json | jq '.group.members[].clientId'
${EXIT_CODES_HELP}`,
    )
    .action(async (groupId: string, options: { json?: boolean }) => {
      const platform = operatorPlatform({}, 'tidings-groups');
      const result = await withOperatorAdmin(platform, async (admin) => {
        const known = await listGroupIds(admin);
        const group = await describeGroup(admin, groupId, known);
        const retryGroup = known.includes(retryGroupOf(groupId)) ? await describeGroup(admin, retryGroupOf(groupId), known) : undefined;
        const [lag] = (await lagReport(admin, { groupId })).groups;
        return { group, ...(retryGroup === undefined ? {} : { retryGroup }), lag };
      });
      if (options.json) {
        console.log(JSON.stringify(result));
        return;
      }
      for (const g of [result.group, ...(result.retryGroup === undefined ? [] : [result.retryGroup])]) {
        console.log(`group ${g.groupId}: ${g.state}, ${g.members.length} member${g.members.length === 1 ? '' : 's'}${g.assignor ? `, assignor ${g.assignor}` : ''}`);
        if (g.members.length > 0) {
          const rows = g.members.map((m) => [m.memberId, m.clientId, m.host, m.assignment.map((a) => `${a.topic}[${a.partitions.join(',')}]`).join(' ') || '(none)']);
          console.log(formatTable([['MEMBER', 'CLIENT ID', 'HOST', 'ASSIGNMENT'], ...rows], '  '));
        }
        console.log('');
      }
      if (result.lag !== undefined) console.log(formatGroupLag(result.lag));
    });
}
