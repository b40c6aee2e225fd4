import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { formatDate } from '../format.js';
import { Button, Field, ErrorBox, Notice, Table, Dialog, Confirm, PageHeader, Badge, statusLabel, useLoad } from '../ui.jsx';

export const strings = {
  en: {
    'projects.title': 'Projects',
    'projects.description':
      'Projects group API keys, usage and limits. Archiving a project disables its API keys at once; it cannot be undone.',
    'projects.create': '+ Create project',
    'projects.col_name': 'Name',
    'projects.col_id': 'Project ID',
    'projects.col_status': 'Status',
    'projects.col_created': 'Created',
    'projects.empty': 'No projects yet.',
    'projects.archive': 'Archive',
    'projects.dialog_title': 'Create a new project',
    'projects.name': 'Name',
    'projects.name_placeholder': 'e.g. My app',
    'projects.name_hint': 'A name your team will recognize, such as the app or environment it is for.',
    'projects.name_required': 'Enter a name for the project.',
    'projects.submit': 'Create',
    'projects.submitting': 'Creating…',
    'projects.archive_title': 'Archive project',
    'projects.archive_text':
      'Archive "{name}"? All of its API keys stop working immediately and no new keys can be created in it. Archived projects cannot be restored.',
    'projects.archive_submit': 'Archive project',
    'projects.rename': 'Rename',
    'projects.rename_title': 'Rename project',
    'projects.rename_submit': 'Save',
  },
  zh: {
    'projects.title': '项目',
    'projects.description': '项目用于归类 API 密钥、用量和限额。归档项目会立即停用它的所有 API 密钥，且无法撤销。',
    'projects.create': '+ 创建项目',
    'projects.col_name': '名称',
    'projects.col_id': '项目 ID',
    'projects.col_status': '状态',
    'projects.col_created': '创建时间',
    'projects.empty': '还没有项目。',
    'projects.archive': '归档',
    'projects.dialog_title': '创建新项目',
    'projects.name': '名称',
    'projects.name_placeholder': '例如：我的应用',
    'projects.name_hint': '使用团队容易辨认的名称，例如对应的应用或环境。',
    'projects.name_required': '请输入项目名称。',
    'projects.submit': '创建',
    'projects.submitting': '正在创建…',
    'projects.archive_title': '归档项目',
    'projects.archive_text': '确定归档“{name}”吗？它的所有 API 密钥会立即失效，也无法再在其中创建新密钥。已归档的项目无法恢复。',
    'projects.archive_submit': '归档项目',
    'projects.rename': '重命名',
    'projects.rename_title': '重命名项目',
    'projects.rename_submit': '保存',
  },
};

// Creates a project, or renames `project` (the default project's name is user data too).
function CreateProjectDialog({ project, onCreated, onClose }) {
  const [name, setName] = useState(project ? project.name : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    if (!name.trim()) {
      setError(t('projects.name_required'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (project) await api.post(`/v1/organization/projects/${encodeURIComponent(project.id)}`, { name: name.trim() });
      else await api.post('/v1/organization/projects', { name: name.trim() });
      await onCreated();
      onClose();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={project ? t('projects.rename_title') : t('projects.dialog_title')} onClose={busy ? undefined : onClose}>
      <form onSubmit={submit} noValidate>
        <Field
          label={t('projects.name')}
          placeholder={t('projects.name_placeholder')}
          hint={t('projects.name_hint')}
          value={name}
          maxLength={255}
          onInput={(e) => setName(e.currentTarget.value)}
          testid="project-name"
        />
        <ErrorBox error={error} />
        <div class="modal-footer modal-footer-inline">
          <Button onClick={onClose} disabled={busy}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" variant="primary" disabled={busy} testid={project ? 'project-rename-submit' : 'project-create-submit'}>
            {busy ? t('common.saving') : project ? t('projects.rename_submit') : t('projects.submit')}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

export default function ProjectsPage({ session }) {
  const owner = session.user.role !== 'reader';
  const { data, error, loading, reload } = useLoad(() => api.list('/v1/organization/projects?include_archived=true'), []);
  const [creating, setCreating] = useState(false);
  const [archiving, setArchiving] = useState(null);
  const [renaming, setRenaming] = useState(null);
  const projects = data || [];

  return (
    <div class="page">
      <PageHeader
        title={t('projects.title')}
        description={t('projects.description')}
        actions={
          owner && (
            <Button variant="primary" testid="create-project" onClick={() => setCreating(true)}>
              {t('projects.create')}
            </Button>
          )
        }
      />
      {!owner && <Notice>{t('common.read_only_notice')}</Notice>}
      <ErrorBox error={error} />
      <Table
        loading={loading && !data}
        empty={t('projects.empty')}
        columns={[
          t('projects.col_name'),
          t('projects.col_id'),
          t('projects.col_status'),
          t('projects.col_created'),
          ...(owner ? [{ label: '', class: 'actions' }] : []),
        ]}
      >
        {projects.map((p) => (
          <tr key={p.id} data-testid="project-row">
            <td class="cell-strong">{p.name}</td>
            <td>
              <code>{p.id}</code>
            </td>
            <td>
              <Badge kind={p.status === 'active' ? 'success' : 'neutral'}>{statusLabel(p.status)}</Badge>
            </td>
            <td class="nowrap">{formatDate(p.created_at)}</td>
            {owner && (
              <td class="actions">
                {p.status === 'active' && (
                  <>
                    <Button small variant="ghost" testid="project-rename" onClick={() => setRenaming(p)}>
                      {t('projects.rename')}
                    </Button>{' '}
                    <Button small testid="project-archive" onClick={() => setArchiving(p)}>
                      {t('projects.archive')}
                    </Button>
                  </>
                )}
              </td>
            )}
          </tr>
        ))}
      </Table>

      {creating && <CreateProjectDialog onCreated={reload} onClose={() => setCreating(false)} />}
      {renaming && <CreateProjectDialog project={renaming} onCreated={reload} onClose={() => setRenaming(null)} />}
      {archiving && (
        <Confirm
          title={t('projects.archive_title')}
          message={t('projects.archive_text', { name: archiving.name })}
          confirmLabel={t('projects.archive_submit')}
          testid="confirm-archive"
          onConfirm={async () => {
            await api.post(`/v1/organization/projects/${encodeURIComponent(archiving.id)}/archive`);
            await reload();
          }}
          onClose={() => setArchiving(null)}
        />
      )}
    </div>
  );
}
