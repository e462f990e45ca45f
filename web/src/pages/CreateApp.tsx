/**
 * "Create application": name it, then put servers from the catalog into server groups (launched in group order
 * later). Servers already in another app are shown as such — a server belongs to at most one app — and the API's
 * errors appear as it gives them. One client token per form, so a repeated submit never creates two apps.
 */
import { useState } from 'preact/hooks';
import { CreateAppCommand, type Server } from '@aws-sdk/client-sms';
import { getCatalog } from '../api/sms.ts';
import { getApp, listApps } from '../api/apps.ts';
import { useApi } from '../context.ts';
import { useBusy, useFormError, useResource } from '../hooks.ts';
import { navigate } from '../router.ts';
import { BackLink, CreateActions, ErrorMessage, Link, LoadState, Page } from '../components/ui.tsx';
import { Field } from '../components/fields.tsx';
import { DataTable } from '../components/DataTable.tsx';
import { removeAt, replaceAt } from '../lists.ts';

const FIELDS = ['name', 'description', 'roleName', 'serverGroups'] as const;
type FieldName = (typeof FIELDS)[number];

/** A random client token (crypto.getRandomValues works outside secure contexts too, unlike randomUUID). */
function newClientToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

interface Data {
  servers: Server[];
  /** serverId → the app that already has it. */
  taken: Map<string, { appId: string; name: string }>;
}

export function CreateAppPage() {
  const { sms } = useApi();
  const data = useResource<Data>(async () => {
    const [catalog, apps] = await Promise.all([getCatalog(sms), listApps(sms)]);
    const taken = new Map<string, { appId: string; name: string }>();
    const details = await Promise.all(apps.filter((a) => a.status !== 'DELETED').map((a) => getApp(sms, a.appId!).catch(() => undefined)));
    for (const app of details) {
      for (const group of app?.serverGroups ?? []) {
        for (const server of group.serverList ?? []) taken.set(server.serverId!, { appId: app!.appSummary!.appId!, name: app!.appSummary!.name ?? '' });
      }
    }
    return { servers: catalog.servers, taken };
  }, []);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [roleName, setRoleName] = useState('');
  const [groups, setGroups] = useState<string[]>(['group-1']);
  /** serverId → index into groups. */
  const [placement, setPlacement] = useState<Map<string, number>>(new Map());
  const [clientToken] = useState(newClientToken);
  const { error, clear: clearError, fail, fieldError } = useFormError(FIELDS, { idPrefix: 'app', errorId: 'create-app-error' });
  const { busy, whileBusy } = useBusy();


  function place(serverId: string, group: number | undefined) {
    setPlacement((current) => {
      const next = new Map(current);
      if (group === undefined) next.delete(serverId);
      else next.set(serverId, group);
      return next;
    });
  }

  function removeGroup(index: number) {
    setGroups(removeAt(index));
    // Servers of the removed group leave the app; those of later groups move up one.
    setPlacement((current) => {
      const next = new Map<string, number>();
      for (const [id, g] of current) if (g !== index) next.set(id, g > index ? g - 1 : g);
      return next;
    });
  }

  async function submit(event: Event) {
    event.preventDefault();
    clearError();
    await whileBusy(
      async () => {
        const out = await sms.send(
          new CreateAppCommand({
            name: name.trim() || undefined,
            description: description.trim() || undefined,
            roleName: roleName.trim() || undefined,
            clientToken,
            serverGroups: groups.map((groupName, index) => ({
              name: groupName.trim() || undefined,
              serverList: [...placement].filter(([, g]) => g === index).map(([serverId]) => ({ serverId })),
            })),
          }),
        );
        navigate(`/apps/${out.appSummary?.appId}`);
      },
      (thrown) => fail(thrown),
    );
  }

  return (
    <Page title="Create application">
      <BackLink to="/apps">All applications</BackLink>
      <LoadState of={data} what="servers" failed="Could not load the servers." />
      <form class="card form" onSubmit={submit} noValidate aria-labelledby="page-title">
        <ErrorMessage id="create-app-error" focusable error={error} prefix="The application was not created." />
        <fieldset>
          <legend>Application</legend>
          <div class="grid">
            <Field id="app-name" label="Name" error={fieldError('name')}>
              {(aria) => <input {...aria} type="text" autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
            </Field>
            <Field id="app-roleName" label="IAM role name" hint="Optional; kept with the app as in SMS." error={fieldError('roleName')}>
              {(aria) => <input {...aria} type="text" autocomplete="off" value={roleName} onInput={(e) => setRoleName(e.currentTarget.value)} />}
            </Field>
          </div>
          <Field id="app-description" label="Description" error={fieldError('description')}>
            {(aria) => <input {...aria} type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Server groups</legend>
          <p class="hint">Groups launch in the order you give them in the launch configuration; servers of one group start together.</p>
          <ol class="group-list">
            {groups.map((groupName, index) => (
              <li key={index}>
                <Field id={`app-group-${index}`} label={`Group ${index + 1} name`} class="inline">
                  {(aria) => (
                    <input
                      {...aria}
                      type="text"
                      value={groupName}
                      onInput={(e) => {
                        const value = e.currentTarget.value;
                        setGroups(replaceAt(index, value));
                      }}
                    />
                  )}
                </Field>
                {groups.length > 1 ? (
                  <button type="button" onClick={() => removeGroup(index)} aria-label={`Remove group ${index + 1}`}>
                    Remove
                  </button>
                ) : null}
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => setGroups((current) => [...current, `group-${current.length + 1}`])} disabled={groups.length >= 10}>
            Add group
          </button>
        </fieldset>
        <fieldset>
          <legend>Servers ({placement.size} chosen)</legend>
          {fieldError('serverGroups') ? <p class="field-error">{fieldError('serverGroups')}</p> : null}
          {data.data && data.data.servers.length === 0 ? (
            <p class="empty">
              The catalog has no servers: <Link to="/servers">import it</Link> first.
            </p>
          ) : null}
          {data.data && data.data.servers.length > 0 ? (
            <DataTable caption="Servers in the catalog and the group each goes to" columns={['Server', 'VM manager', 'Group']} testId="app-servers">
              {data.data.servers.map((server) => {
                const id = server.serverId!;
                const label = server.vmServer?.vmName ?? id;
                const owner = data.data!.taken.get(id);
                return (
                  <tr key={id}>
                    <th scope="row" data-label="Server">
                      {label}
                      <div class="sub">
                        <code>{id}</code>
                      </div>
                    </th>
                    <td data-label="VM manager">
                      {server.vmServer?.vmManagerName ?? '—'}
                      <div class="sub">{server.vmServer?.vmManagerType}</div>
                    </td>
                    <td data-label="Group">
                      {owner ? (
                        <span class="muted">
                          In <Link to={`/apps/${owner.appId}`}>{owner.name || owner.appId}</Link>
                        </span>
                      ) : (
                        <select
                          aria-label={`Group for ${label}`}
                          value={placement.has(id) ? String(placement.get(id)) : ''}
                          onChange={(e) => place(id, e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value))}
                        >
                          <option value="">Not in this app</option>
                          {groups.map((g, i) => (
                            <option key={i} value={String(i)}>
                              {g.trim() || `Group ${i + 1}`}
                            </option>
                          ))}
                        </select>
                      )}
                    </td>
                  </tr>
                );
              })}
            </DataTable>
          ) : null}
        </fieldset>
        <CreateActions busy={busy} label="Create application" cancelTo="/apps" />
      </form>
    </Page>
  );
}
