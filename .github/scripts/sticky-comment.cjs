// The one sticky-comment upsert, for pr-publish.yml and data-refresh.yml (actions/github-script):
// the bot's comment on the pull request that starts with the marker is updated in place, else one is made.
// The body is rendered by `edgetrain report comment` (default-branch code) and starts with the marker.
const MARKER = '<!-- edgetrain:pr-train -->';

module.exports = async function upsertStickyComment({ github, context, issueNumber, body }) {
  if (!body.startsWith(MARKER)) {
    throw new Error(`the comment must start with ${MARKER}`);
  }
  const { owner, repo } = context.repo;
  const issue_number = issueNumber;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
  const mine = comments.find(c => c.user.login === 'github-actions[bot]' && c.body.startsWith(MARKER));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
};
