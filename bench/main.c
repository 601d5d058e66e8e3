/* PLACEHOLDER so the tree configures while this file is written; replaced by its author. */
int main(void)
{
	return 77;
}
